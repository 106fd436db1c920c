"""`python -m sandbox`: the sandbox (every dialect) in the foreground (see sandbox.command)."""

from deskpulse.sandbox.command import main

if __name__ == "__main__":
    main()
