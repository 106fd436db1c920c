"""`python -m deskpulse.sandbox`: the sandbox (every dialect) in the foreground, with the options
and defaults of `deskpulse sandbox` (sandbox.options.build_parser)."""

from deskpulse.sandbox.command import main

if __name__ == "__main__":
    main()
