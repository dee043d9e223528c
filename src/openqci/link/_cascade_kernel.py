"""The numba kernel of Cascade: passes, lockstep bisection, the cascade effect and known sub-block parities.

Every pass cuts its shuffled frame into blocks, and each block is the root of a binary tree of sub-blocks
(the left half of ``[lo, hi)`` is ``[lo, lo + (hi - lo) // 2)``), numbered as a heap: root 1, children
``2h`` and ``2h + 1``. A node is *known* once Alice has disclosed its parity (block parities at the start
of a pass, the left half at each bisection; the right half follows from the parent). For every known node
the kernel keeps Alice's parity and the parity of the errors it holds, updated on every flip of Bob's
bits, so checking a search costs one lookup instead of a pass over its range.

With ``reuse`` set (sub-block reuse, Martinez-Mateo et al. 2015, Sec. 4), a search that reaches a known
node descends without asking, and after a flip any known node of an earlier pass that now holds an odd
number of errors is searched from that node, not from its whole block. Without it, the kernel asks every
bisection parity (again) and reopens whole blocks only, as the original protocol does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

_KNOWN = np.uint8(1)
_ALICE = np.uint8(2)
_ERROR = np.uint8(4)


def workspace(n: int, sizes: NDArray[np.int64]) -> tuple[NDArray[Any], ...]:
    """Every array :func:`cascade_kernel` works in, for frames of ``n`` bits and these block sizes.

    Allocated once and reused frame after frame: fresh arrays of this size (about 20 MB for 14 passes
    over 2^17 bits) come straight from the operating system, and faulting their pages in cost a third of
    a frame's time. The kernel clears what it reads before writing.
    """
    passes = sizes.size
    blocks = (n + sizes - 1) // sizes
    spans = np.array([_tree_span(int(k)) for k in sizes], dtype=np.int64)
    max_blocks = int(blocks.max()) if passes else 1
    words = (n + 7) // 8
    return (
        np.empty((passes, n + 1), np.uint8),  # A: prefix parities of Alice's shuffled bits
        np.empty((passes, n + 1), np.uint8),  # B: Fenwick tree (XOR) of Bob's shuffled bits
        np.empty((passes, n), np.int32),  # pos: shuffled position of each bit, per pass
        np.empty(int((blocks * spans).sum()), np.uint8),  # node: known sub-block states
        np.empty((passes, max_blocks), np.uint8),  # active searches
        np.empty((passes, max_blocks), np.int32),  # known nodes holding an odd number of errors
        np.empty((4 * passes * max_blocks + n, 3), np.int64),  # touched: pass, block, flipped position
        np.empty((passes * max_blocks, 5), np.int64),  # items: pass, block, lo, hi, heap index
        np.empty(2 * n + 64, np.uint8),  # the public log (grown by the kernel when needed)
        np.empty((5, 8 * words + 8), np.uint8),  # shuffled bits (both ends, Alice's, Bob's prefix), merged
        np.empty(words + 1, np.uint64),  # scratch of the prefix scan
        np.empty(
            passes, np.uint8
        ),  # built: whether a pass's prefix parities, Fenwick tree and positions exist
        np.empty((passes, n), np.int32),  # the pass permutations
    )


@njit(cache=True, nogil=True)
def cascade_kernel(alice, bob, seeds, sizes, reuse, work):  # type: ignore[no-untyped-def]
    """All passes; returns Bob's corrected bits, the public log and (leaked, Bob's choices, round trips).

    Pass ``p`` shuffles the frame by the permutation of ``seeds[p]`` (:func:`shuffle_steps`; pass 0
    keeps the frame's order). ``work`` is :func:`workspace` for this frame length and these sizes; the
    returned log is a view of it, valid until the next call with the same workspace.
    """
    A, B, pos, node, active, odd, touched, items, log, scratch, scan, built, perms = work
    passes, n = perms.shape
    span = np.empty(passes, np.int64)
    base = np.zeros(passes + 1, np.int64)
    for p in range(passes):
        blocks = (n + sizes[p] - 1) // sizes[p]
        span[p] = _tree_span(sizes[p])
        base[p + 1] = base[p] + blocks * span[p]
    node[: base[passes]] = 0
    active[:] = 0
    odd[:] = 0
    built[:] = 0
    state = np.zeros(4, np.int64)  # leaked parity bits, Bob's choices logged, round trips, touched in use
    current = bob.copy()
    lazy = (alice, perms, A, B, pos, built, scratch, scan, seeds, sizes)
    for p in range(passes):
        blocks = (n + sizes[p] - 1) // sizes[p]
        if state[0] + state[1] + blocks > log.size:
            log = _grow(log, blocks)
        _start_pass(p, current, sizes, node, base, span, odd, log, state, lazy)
        n_items = 0
        for b in range(blocks):
            if node[base[p] + b * span[p] + 1] & _ERROR:
                n_items = _push(items, n_items, p, b, b * sizes[p], min((b + 1) * sizes[p], n), 1, active)
        while n_items > 0:
            need = n_items * 66
            if state[0] + state[1] + need > log.size:
                log = _grow(log, need)
            n_items = _round(
                p, items, n_items, A, B, perms, pos, sizes, n, current, node, base, span, active, odd,
                touched, log, state, reuse, lazy,
            )  # fmt: skip
    return current, log, state[:3].copy()


@njit(cache=True, nogil=True)
def _tree_span(k):  # type: ignore[no-untyped-def]
    """Heap indices a block of ``k`` bits needs: ``2^(ceil(log2 k) + 1)``."""
    depth = 0
    while (1 << depth) < k:
        depth += 1
    return np.int64(1) << (depth + 1)


@njit(cache=True, nogil=True)
def _grow(log, extra):  # type: ignore[no-untyped-def]
    """A copy of the public log with room for at least ``extra`` more entries."""
    bigger = np.empty(2 * log.size + extra, np.uint8)
    bigger[: log.size] = log
    return bigger


@njit(cache=True, nogil=True)
def _bob_prefix(B, q, i):  # type: ignore[no-untyped-def]
    """Parity of Bob's first ``i`` shuffled bits of pass ``q`` (Fenwick query)."""
    acc = np.uint8(0)
    while i > 0:
        acc ^= B[q, i]
        i &= i - 1
    return acc


@njit(cache=True, nogil=True)
def _bob_toggle(B, q, j, n):  # type: ignore[no-untyped-def]
    """Flip Bob's shuffled bit ``j`` of pass ``q`` in the Fenwick tree."""
    i = j + 1
    while i <= n:
        B[q, i] ^= 1
        i += i & -i


@njit(cache=True, nogil=True)
def _start_pass(p, current, sizes, node, base, span, odd, log, state, lazy):  # type: ignore[no-untyped-def]
    """Shuffle both frames for pass ``p`` and exchange every block parity in one round trip.

    The block parities come from the shuffled bits alone. The structures that searches and flips need
    (:func:`_build`) are built only when a block of this pass disagrees or a later flip reaches this
    pass: the last passes, with blocks of half the frame, usually find nothing, and building them was
    most of a frame's time.
    """
    alice, perms, scratch, seeds = lazy[0], lazy[1], lazy[6], lazy[8]
    n = perms.shape[1]
    k = sizes[p]
    both = scratch[0]
    perm = perms[p]
    for j in range(n):
        perm[j] = j
    if p > 0:  # only the steps that settle positions k.., which fixes the set of bits in block 0
        shuffle_steps(perm, np.uint64(seeds[p]), n - 1, min(k, n))
    merged = scratch[4]
    _merge(alice, current, merged)
    _gather(perm, merged, both, n)
    disagree = False
    for b in range((n + k - 1) // k):
        lo, hi = b * k, min((b + 1) * k, n)
        ones_alice = ones_bob = 0
        for j in range(lo, hi):  # both ends' bits of the block, one byte each: 1 Alice's, 2 Bob's
            ones_alice += both[j] & 1
            ones_bob += both[j] >> 1
        pa, error = np.uint8(ones_alice & 1), np.uint8((ones_alice ^ ones_bob) & 1)
        node[base[p] + b * span[p] + 1] = _KNOWN | (pa * _ALICE) | (error * _ERROR)
        odd[p, b] = error
        disagree = disagree or error == 1
        log[state[0] + state[1]] = pa
        state[0] += 1
    state[2] += 1
    if disagree:
        _build(p, current, lazy, True)


@njit(cache=True, nogil=True)
def shuffle_steps(values, seed, first, last):  # type: ignore[no-untyped-def]
    """Steps ``i = first, first - 1, ..., last`` of a Fisher-Yates shuffle driven by SplitMix64 from ``seed``.

    All steps from ``n - 1`` down to 1 shuffle ``values`` by the permutation both ends rebuild from the
    public seed. Step ``i`` settles position ``i`` and draws from SplitMix64's state ``seed + (n - i) gamma``,
    so the shuffle can stop at any step and go on later. Steele, Lea, Flood, "Fast splittable pseudorandom
    number generators", OOPSLA 2014 (SplitMix64); Lemire, ACM TOMACS 29, 3 (2019) for the multiply-shift
    range reduction.
    """
    n = values.size
    state = seed + np.uint64(n - 1 - first) * np.uint64(0x9E3779B97F4A7C15)
    for i in range(first, last - 1, -1):
        state += np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        j = ((z >> np.uint64(32)) * np.uint64(i + 1)) >> np.uint64(32)
        values[i], values[j] = values[j], values[i]


@njit(cache=True, nogil=True)
def _merge(alice, current, merged):  # type: ignore[no-untyped-def]
    """``merged[i] = alice[i] | current[i] << 1``, so that a shuffle takes one random load per bit."""
    for i in range(alice.size):
        merged[i] = alice[i] | (current[i] << 1)


@njit(cache=True, nogil=True)
def _gather(perm, merged, both, stop):  # type: ignore[no-untyped-def]
    """``both[j] = merged[perm[j]]`` for shuffled positions ``j < stop``; zero from ``perm.size`` on."""
    for j in range(stop):
        both[j] = merged[perm[j]]
    both[perm.size :] = 0


@njit(cache=True, nogil=True)
def _build(q, current, lazy, just_started):  # type: ignore[no-untyped-def]
    """Pass ``q``'s last shuffle steps, Alice prefix parities, Fenwick tree of Bob's bits, bit positions.

    ``just_started``: called by :func:`_start_pass`, whose gathered bits are still Bob's current ones,
    so only block 0, which the last shuffle steps reorder, is gathered again. Written without
    loop-carried chains: the prefix parities are scanned eight bits to a word, and every Fenwick node
    is the difference of two of Bob's prefix parities.
    """
    alice, perms, A, B, pos, built, scratch, scan, seeds, sizes = lazy
    n = perms.shape[1]
    both, alice_bits, bob_bits, bob_prefix, merged = (
        scratch[0],
        scratch[1],
        scratch[2],
        scratch[3],
        scratch[4],
    )
    first_block = min(sizes[q], n) if q > 0 else 0
    if q > 0:  # the steps that order block 0, left out when the pass started
        shuffle_steps(perms[q], np.uint64(seeds[q]), first_block - 1, 1)
    if not just_started:
        _merge(alice, current, merged)
    _gather(perms[q], merged, both, first_block if just_started else n)
    for j in range(both.size):
        alice_bits[j] = both[j] & 1
        bob_bits[j] = both[j] >> 1
    _prefix_parities(alice_bits, n, A[q], scan)
    _prefix_parities(bob_bits, n, bob_prefix, scan)
    B[q, 0] = 0
    for i in range(1, n + 1):  # Fenwick node i holds the parity of Bob's bits (i - lowbit(i), i]
        B[q, i] = bob_prefix[i] ^ bob_prefix[i - (i & -i)]
    perm = perms[q]
    for j in range(n):
        pos[q, perm[j]] = j
    built[q] = 1


@njit(cache=True, nogil=True)
def _prefix_parities(bits, n, out, scanned):  # type: ignore[no-untyped-def]
    """``out[0] = 0``, ``out[j + 1]`` = parity of ``bits[:j + 1]``; ``bits`` (0/1 bytes) padded to 8."""
    packed = bits.view(np.uint64)
    carry = np.uint64(0)
    for w in range(packed.size):  # little-endian: byte m of a word becomes the parity of bytes 0..m
        x = packed[w]
        x ^= x << np.uint64(8)
        x ^= x << np.uint64(16)
        x ^= x << np.uint64(32)
        x ^= carry * np.uint64(0x0101010101010101)
        scanned[w] = x
        carry = x >> np.uint64(56)
    out[0] = 0
    out[1 : n + 1] = scanned.view(np.uint8)[:n]


@njit(cache=True, nogil=True)
def _push(items, n_items, p, b, lo, hi, h, active):  # type: ignore[no-untyped-def]
    """Open a search over node ``h`` (range ``[lo, hi)``) of block ``b`` of pass ``p``."""
    items[n_items, 0] = p
    items[n_items, 1] = b
    items[n_items, 2] = lo
    items[n_items, 3] = hi
    items[n_items, 4] = h
    active[p, b] = 1
    return n_items + 1


@njit(cache=True, nogil=True)
def _touch(touched, state, q, b, j):  # type: ignore[no-untyped-def]
    """Note that block ``b`` of pass ``q`` must be looked at again (``j``: the flipped position, or -1)."""
    m = state[3]
    if m < touched.shape[0]:
        touched[m, 0], touched[m, 1], touched[m, 2] = q, b, j
        state[3] = m + 1


@njit(cache=True, nogil=True)
def _flip(i, last_pass, B, pos, sizes, n, current, node, base, span, odd, touched, state, lazy):  # type: ignore[no-untyped-def]
    """Flip Bob's bit ``i``; toggle the error parity of every known node holding it, in every pass so far."""
    built = lazy[5]
    for q in range(last_pass + 1):  # from Bob's bits before the flip, which the loop below then applies
        if not built[q]:
            _build(q, current, lazy, False)
    current[i] ^= 1
    for q in range(last_pass + 1):
        j = pos[q, i]
        _bob_toggle(B, q, j, n)
        k = sizes[q]
        b = j // k
        root = base[q] + b * span[q]
        lo, hi, h = b * k, min((b + 1) * k, n), 1
        while node[root + h] & _KNOWN:
            node[root + h] ^= _ERROR
            odd[q, b] += 1 if node[root + h] & _ERROR else -1
            if hi - lo < 2:
                break
            mid = lo + (hi - lo) // 2
            if j < mid:
                hi, h = mid, 2 * h
            else:
                lo, h = mid, 2 * h + 1
        _touch(touched, state, q, b, j)


@njit(cache=True, nogil=True)
def _round(  # type: ignore[no-untyped-def]
    p, items, n_items, A, B, perms, pos, sizes, n, current, node, base, span, active, odd, touched, log,
    state, reuse, lazy,
):  # fmt: skip
    """One round trip: finish one-bit searches, drop settled ones, reopen odd nodes, ask one parity each."""
    for t in range(n_items):  # searches narrowed to one bit whose error parity is odd: that bit is wrong
        q, b, lo, h = items[t, 0], items[t, 1], items[t, 2], items[t, 4]
        if items[t, 3] - lo == 1:
            if node[base[q] + b * span[q] + h] & _ERROR:
                _flip(perms[q, lo], p, B, pos, sizes, n, current, node, base, span, odd, touched, state, lazy)
            items[t, 3] = lo  # mark finished
    kept = 0
    for t in range(n_items):  # keep searches whose node still holds an odd number of errors
        q, b, h = items[t, 0], items[t, 1], items[t, 4]
        if items[t, 3] > items[t, 2] and node[base[q] + b * span[q] + h] & _ERROR:
            items[kept] = items[t]
            kept += 1
        else:
            active[q, b] = 0
            if reuse and odd[q, b] > 0:
                _touch(touched, state, q, b, -1)
    kept = _reopen(items, kept, sizes, n, node, base, span, active, odd, touched, state, reuse)
    asked = 0
    for t in range(kept):
        asked += _descend(items, t, A, B, node, base, span, odd, log, state, reuse)
    if asked:
        state[2] += 1
    return kept


@njit(cache=True, nogil=True)
def _reopen(items, kept, sizes, n, node, base, span, active, odd, touched, state, reuse):  # type: ignore[no-untyped-def]
    """Open searches where a touched block now holds an odd known node (the cascade effect)."""
    stack = np.empty((128, 3), np.int64)  # for _odd_anywhere: one allocation per round, not per block
    for m in range(state[3]):
        q, b, j = touched[m, 0], touched[m, 1], touched[m, 2]
        if active[q, b] or odd[q, b] == 0:
            continue
        k, root = sizes[q], base[q] + b * span[q]
        lo, hi = b * k, min((b + 1) * k, n)
        if not reuse:
            if node[root + 1] & _ERROR:
                kept = _push(items, kept, q, b, lo, hi, 1, active)
            continue
        found = _odd_on_path(node, root, lo, hi, j) if j >= 0 else (0, 0, 0)
        if found[0] == 0:
            found = _odd_anywhere(node, root, lo, hi, stack)
        if found[0] > 0:
            kept = _push(items, kept, q, b, found[1], found[2], found[0], active)
    state[3] = 0
    return kept


@njit(cache=True, nogil=True)
def _odd_on_path(node, root, lo, hi, j):  # type: ignore[no-untyped-def]
    """The highest known node on the path to position ``j`` holding an odd number of errors: (h, lo, hi).

    Results are tuples (h = 0: none), which stay in registers; small arrays cost an allocation each.
    """
    h = 1
    while node[root + h] & _KNOWN:
        if node[root + h] & _ERROR:
            return h, lo, hi
        if hi - lo < 2:
            break
        mid = lo + (hi - lo) // 2
        if j < mid:
            hi, h = mid, 2 * h
        else:
            lo, h = mid, 2 * h + 1
    return 0, 0, 0


@njit(cache=True, nogil=True)
def _odd_anywhere(node, root, lo, hi, stack):  # type: ignore[no-untyped-def]
    """Depth-first over a block's known nodes: the first one holding an odd number of errors, or h = 0."""
    stack[0, 0], stack[0, 1], stack[0, 2] = 1, lo, hi
    top = 1
    while top > 0:
        top -= 1
        h, lo, hi = stack[top, 0], stack[top, 1], stack[top, 2]
        state_h = node[root + h]
        if not state_h & _KNOWN:
            continue
        if state_h & _ERROR:
            return h, lo, hi
        if hi - lo >= 2:
            mid = lo + (hi - lo) // 2
            stack[top, 0], stack[top, 1], stack[top, 2] = 2 * h + 1, mid, hi
            stack[top + 1, 0], stack[top + 1, 1], stack[top + 1, 2] = 2 * h, lo, mid
            top += 2
    return 0, 0, 0


@njit(cache=True, nogil=True)
def _set_node(node, odd, q, b, index, value):  # type: ignore[no-untyped-def]
    """Record a known node, keeping the block's count of odd known nodes right."""
    if node[index] & _KNOWN and node[index] & _ERROR:
        odd[q, b] -= 1
    node[index] = value
    if value & _ERROR:
        odd[q, b] += 1


@njit(cache=True, nogil=True)
def _descend(items, t, A, B, node, base, span, odd, log, state, reuse):  # type: ignore[no-untyped-def]
    """Move search ``t`` down through known nodes, then ask Alice one left-half parity; 1 if asked."""
    q, b, lo, hi, h = items[t, 0], items[t, 1], items[t, 2], items[t, 3], items[t, 4]
    root = base[q] + b * span[q]
    asked = 0
    while hi - lo >= 2 and not asked:
        mid = lo + (hi - lo) // 2
        left = node[root + 2 * h]
        if not (reuse and left & _KNOWN):
            parent = node[root + h]
            alice_left = A[q, mid] ^ A[q, lo]
            error_left = alice_left ^ _bob_prefix(B, q, mid) ^ _bob_prefix(B, q, lo)
            alice_right = alice_left ^ ((parent & _ALICE) >> 1)
            error_right = error_left ^ ((parent & _ERROR) >> 2)
            left = _KNOWN | (alice_left * _ALICE) | (error_left * _ERROR)
            _set_node(node, odd, q, b, root + 2 * h, left)
            right = _KNOWN | (alice_right * _ALICE) | (error_right * _ERROR)
            _set_node(node, odd, q, b, root + 2 * h + 1, right)
            log[state[0] + state[1]] = alice_left
            state[0] += 1
            asked = 1
        go_left = (left & _ERROR) >> 2
        log[state[0] + state[1]] = go_left  # Bob names the half he searches next
        state[1] += 1
        if go_left:
            hi, h = mid, 2 * h
        else:
            lo, h = mid, 2 * h + 1
    items[t, 2], items[t, 3], items[t, 4] = lo, hi, h
    return asked
