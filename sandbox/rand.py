"""Deterministic randomness for the generator: a private stream per entity from (seed, kind, i),
cheap to seed (see sandbox.data: every ticket is a pure function of its index)."""

from __future__ import annotations

import _random
import hashlib
import random
import threading
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def mix(*parts: object) -> int:
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class FastRandom(random.Random):
    """random.Random with a cheaper randrange (no argument checking: its numbers differ from the
    stdlib's but are just as deterministic), and `below` / `small_sample`, which draw exactly what
    the stdlib's choice / sample would, with less work. Weighted picks are inlined where used:
    `items[bisect_right(cum_weights, random() * total)]`."""

    @classmethod
    def from_key(cls, key: int) -> FastRandom:
        """FastRandom(key) for an int key, seeded directly by the C generator: the same state
        without the Python layers of Random.__init__ / Random.seed (a measurable share of
        generating one ticket)."""
        r = cls.__new__(cls)
        _random.Random.seed(r, key)
        r.gauss_next = None  # type: ignore[attr-defined]  # as Random.__init__ leaves it
        return r

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None:
            return int(self.random() * start)
        return start + int(self.random() * (stop - start))

    def below(self, n: int) -> int:
        """A number in [0, n), n > 0: the same draw as random.Random's choice/sample make."""
        k = n.bit_length()
        x = self.getrandbits(k)
        while x >= n:
            x = self.getrandbits(k)
        return x

    def small_sample(self, population: Sequence[T], k: int) -> list[T]:
        """random.Random.sample(population, k) for up to 21 items: the same draws, less work."""
        if k <= 1:
            return [population[self.below(len(population))]] if k else []
        pool = list(population)
        n = len(pool)
        out: list[T] = []
        for m in range(n - 1, n - 1 - k, -1):
            j = self.below(m + 1)
            out.append(pool[j])
            pool[j] = pool[m]
        return out


M64 = (1 << 64) - 1
_TAG_KEYS: dict[str, int] = {}


class _ThreadRandom(threading.local):
    """One FastRandom per thread, re-seeded for every entity generated on that thread: seeding
    in place skips allocating (and freeing) the generator's 2.5 KB state each time, and keeps it
    in the CPU cache. Only for generation that is done before it returns (nothing may keep it)."""

    def __init__(self) -> None:
        self.rng = FastRandom.from_key(0)


_THREAD_RANDOM = _ThreadRandom()


def reseeded(key: int) -> FastRandom:
    """This thread's generator, in the state FastRandom(key) starts in."""
    r = _THREAD_RANDOM.rng
    _random.Random.seed(r, key)
    return r


def splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def kind_key(seed: int, tag: str) -> int:
    """The part of entity_key(seed, tag, i) that does not depend on i."""
    tk = _TAG_KEYS.get(tag)
    if tk is None:
        tk = _TAG_KEYS[tag] = mix(tag)
    return splitmix64((seed & M64) ^ tk)


def entity_key(seed: int, tag: str, i: int) -> int:
    """A well-mixed 64-bit key for entity `i` of kind `tag` (cheap: no hashing of strings)."""
    return splitmix64(kind_key(seed, tag) ^ (i & M64))


def rng_for(seed: int, *parts: object) -> FastRandom:
    """A private random stream for one entity: same (seed, parts) -> same numbers."""
    if len(parts) == 2 and isinstance(parts[0], str) and isinstance(parts[1], int):
        return FastRandom.from_key(entity_key(seed, parts[0], parts[1]))
    return FastRandom(mix(seed, *parts))
