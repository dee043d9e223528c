"""The layered sum-product sweep over 32, 16 or 8 frames side by side, written as LLVM IR on lane vectors.

The numba version of this loop (lane loops left to LLVM's loop vectoriser) spent about 12 instructions
per edge and lane: every lane loop of four 8-float iterations came with its own set-up, the per-lane
accumulators lived in memory, and the constants of the polynomials were reloaded each time. Here each
row of lanes is one ``<32 x float>`` (or 16, or 8) value that LLVM splits into the host's registers (two
512-bit ones with AVX-512, four 256-bit ones with AVX2, more elsewhere); the accumulators stay in
registers, and a sweep of the 131,072-bit PEG code runs about twice as fast
(``benchmarks/bench_ldpc_sweep.py``).

The check rule is exact sum-product in a form without divisions into the inner loop's critical path. With
``x_i = e^-|q_i|`` each input's factor is ``tanh(|q_i| / 2) = (1 - x_i) / (1 + x_i)``; the check keeps the
products ``N = prod (1 - x_i)`` and ``D = prod (1 + x_i)``, and the message to edge ``j`` is
``2 atanh(T_j)`` with ``T_j = N (1 + x_j) / (D (1 - x_j))``, which is ``ln(A / B)`` with
``A = D (1 - x_j) + N (1 + x_j) = (1 - x_j)(D - N) + 2N`` and ``B = (1 - x_j)(D + N) - 2N``: one
exponential per edge in the first pass; two fused multiply-adds, one quotient and one logarithm in the
second. ``2^t`` and ``log2(1 + t)`` on ``[0, 1)`` are polynomials fitted at import
(:data:`POLYNOMIAL_ERRORS`: about 1.1e-4 each, degrees 3 and 4); the quotient may use the CPU's
reciprocal estimate refined by one Newton step (``reciprocal-estimates``), about 1e-7 relative. Signs
never leave the integer unit: the parities are xors of the inputs' bits, and a message takes its input's
sign bit flipped by them.
Clipping as in the former scalar numba rule: ``|q| <= 30``, ``1 - x >= 1e-7``, ``N >= 1e-30`` and
``B >= 6e-8 A``, so magnitudes saturate near 16.6.

Where numba compiles for a CPU with AVX-512 (:func:`has_avx512`), the 32- and 16-lane sweeps take the
instructions it has for these functions: ``vrangeps`` (``min(|q|, 30)``), ``vreduceps``
(``y - floor(y)``) and ``vscalefps`` (``p 2^floor(y)``) for the exponential, ``vgetexpps`` and
``vgetmantps`` for the logarithm, and ``vrcp14ps`` (2^-14 relative, no Newton step) for the quotient.
With the changes above the sweep's instructions per edge fell by about a third, and the 32-lane sweep of
a code that fits in the cache ran 1.3 times faster (0.60 -> 0.46 ns per edge and lane, one-off timing).

Besides posteriors and messages the sweep reads each check's target syndrome bits packed one bit per lane
and writes each bit's hard decisions the same way, and a lane holding a frame it has not swept yet reads
each bit's prior on the bit's first edge (:func:`first_touch_ranks`) instead of the posterior table: the
bookkeeping of :mod:`openqci.link.ldpc_lanes` then never walks a lane's column. Apart from the AVX-512
intrinsics the IR is plain target-independent LLVM, so every host numba runs on can compile it.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import llvmlite.binding
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic
from numpy.typing import NDArray

from openqci._jit_target import target_features, target_triple

__all__ = [
    "CERTAIN_LLR",
    "LANE_WIDTH",
    "POLYNOMIAL_ERRORS",
    "LaneState",
    "first_touch_ranks",
    "has_avx512",
    "sweep_lanes_sum_product",
]

WIDTHS = (32, 16, 8, 4, 2, 1)
"""Lane widths with a sweep: 32 while frames are left to start, narrower ones for the last frames and
for calls with fewer frames."""

LANE_WIDTH = WIDTHS[0]
"""Frames per sweep while frames are left to start, and per packed word (the decoder's ``LANES``)."""

CERTAIN_LLR = 1.0e4
"""Prior LLR of a shortened position: no error, for certain."""

_FUNCTION = "openqci_sum_product_lanes"


def _fit(
    function: Callable[[NDArray[np.float64]], NDArray[np.float64]], degree: int
) -> tuple[list[float], float]:
    """The polynomial through ``function`` at the Chebyshev nodes of ``[0, 1]`` (within a few percent of
    the best largest error), constant term first, and its largest error there."""
    k = np.arange(degree + 1)
    nodes = 0.5 + 0.5 * np.cos((2 * k + 1) * np.pi / (2 * degree + 2))
    coefficients = np.polynomial.polynomial.polyfit(nodes, function(nodes), degree)
    t = np.linspace(0.0, 1.0, 20001)
    error = float(np.max(np.abs(np.polynomial.polynomial.polyval(t, coefficients) - function(t))))
    return [float(c) for c in coefficients], error


# degrees 3 and 4 (errors about 1.1e-4 each): a message is stored to 2^-11 of itself anyway, and the
# decoder needs the same iterations as with degrees 4 and 5 (errors 4e-6 and 2e-5), 6 % faster
_EXP2, _EXP2_ERROR = _fit(lambda t: 2.0**t, 3)
_LOG2, _LOG2_ERROR = _fit(lambda t: np.log2(1.0 + t), 4)
_LN2 = float(np.log(2.0))
_SIGN_BIT = -(2**31)  # 0x80000000 as an i32 constant
_LN_MANTISSA_BIASED = [_LN2 * c for c in _LOG2]
_LN_MANTISSA_BIASED[0] -= 127.0 * _LN2  # the exponent bias, folded into the constant term
_LN_MANTISSA = [_LN2 * c for c in _LOG2]

POLYNOMIAL_ERRORS = {"2^t": _EXP2_ERROR, "log2(1 + t)": _LOG2_ERROR}
"""Largest absolute error of each fitted polynomial on ``[0, 1)`` (before float32 rounding)."""


_AVX512 = {
    # name: (the intrinsic's arguments after the vector operands, number of vector operands)
    "mask.range.ps.512": ("i32 10, <16 x float> zeroinitializer, i16 -1, i32 4", 2),  # min(|a|, |b|)
    "mask.reduce.ps.512": ("i32 9, <16 x float> zeroinitializer, i16 -1, i32 4", 1),  # x - floor(x)
    "mask.scalef.ps.512": ("<16 x float> zeroinitializer, i16 -1, i32 4", 2),  # a 2^floor(b)
    "mask.getexp.ps.512": ("<16 x float> zeroinitializer, i16 -1, i32 4", 1),  # floor(log2 x)
    "mask.getmant.ps.512": ("i32 0, <16 x float> zeroinitializer, i16 -1, i32 4", 1),  # mantissa in [1, 2)
    "rcp14.ps.512": ("<16 x float> zeroinitializer, i16 -1", 1),  # 1 / x to 2^-14
}
"""The AVX-512 instructions the sweep uses where the CPU has them, as LLVM's x86 intrinsics."""


class _Writer:
    """Lines of one LLVM function on ``<width x ...>`` vectors, with short helpers for the usual forms.

    With ``avx512`` (and a width that is a multiple of 16) the exponential, the logarithm and the
    reciprocal use the instructions AVX-512 has for them (:data:`_AVX512`) on 16-lane halves.
    """

    def __init__(self, width: int, avx512: bool, native_half: bool) -> None:
        self.lines: list[str] = []
        self.width = width
        self.avx512 = avx512 and width % 16 == 0
        self.native_half = native_half
        self.v = f"<{width} x float>"
        self.i = f"<{width} x i32>"
        self.b = f"<{width} x i1>"

    def __call__(self, line: str) -> None:
        self.lines.append("  " + line if not line.endswith(":") else line)

    def splat(self, value: float) -> str:
        """A vector constant of one float32 value (LLVM writes floats as the hex of their double)."""
        bits = struct.unpack("<Q", struct.pack("<d", float(np.float32(value))))[0]
        return "<" + ", ".join([f"float 0x{bits:016X}"] * self.width) + ">"

    def splat_int(self, value: int) -> str:
        return "<" + ", ".join([f"i32 {value}"] * self.width) + ">"

    def call(self, result: str, intrinsic_name: str, *operands: str) -> None:
        arguments = ", ".join(f"{self.v} {operand}" for operand in operands)
        self(f"%{result} = call fast {self.v} @llvm.{intrinsic_name}.v{self.width}f32({arguments})")

    def x86(self, result: str, name: str, *operands: str) -> None:
        """``%result``: the AVX-512 intrinsic ``name`` applied to each 16 lanes of the operands."""
        tail, count = _AVX512[name]
        if len(operands) != count or self.width not in (16, 32):
            raise ValueError(f"{name} takes {count} vectors of 16 or 32 lanes")
        halves = []
        for half in range(self.width // 16):
            lanes = "<" + ", ".join(f"i32 {16 * half + k}" for k in range(16)) + ">"
            parts = []
            for n, operand in enumerate(operands):
                part = f"%{result}.in{n}.{half}"
                self(f"{part} = shufflevector {self.v} {operand}, {self.v} poison, <16 x i32> {lanes}")
                parts.append(f"<16 x float> {part}")
            self(f"%{result}.{half} = call <16 x float> @llvm.x86.avx512.{name}({', '.join(parts)}, {tail})")
            halves.append(f"%{result}.{half}")
        if self.width == 16:
            self(f"%{result} = fadd fast {self.v} {halves[0]}, zeroinitializer")
            return
        lanes = "<" + ", ".join(f"i32 {k}" for k in range(32)) + ">"
        pair = f"<16 x float> {halves[0]}, <16 x float> {halves[1]}"
        self(f"%{result} = shufflevector {pair}, <32 x i32> {lanes}")

    def polynomial(self, result: str, variable: str, coefficients: list[float]) -> None:
        """Horner's rule with fused multiply-adds, ending in ``%result``."""
        accumulator = self.splat(coefficients[-1])
        for step, coefficient in enumerate(reversed(coefficients[:-1])):
            name = f"{result}.{step}"
            self.call(name, "fma", accumulator, f"%{variable}", self.splat(coefficient))
            accumulator = f"%{name}"
        self(f"%{result} = fadd fast {self.v} {accumulator}, zeroinitializer")

    def row(self, result: str, base: str, index: str, element: str = "float") -> None:
        """``%result``: address of row ``index`` of a ``(rows, width)`` array of ``element``."""
        self(f"%{result}.offset = mul i64 {index}, {self.width}")
        self(f"%{result} = getelementptr {element}, ptr {base}, i64 %{result}.offset")

    def load_half(self, result: str, address: str) -> None:
        """``%result``: a row of half-precision lanes, widened to float32.

        Without the CPU's conversion LLVM would call a runtime function numba does not link, so the
        bits are moved by hand: exponent and mantissa shifted into place and the exponent rebiased by
        a multiplication by 2^112, which also normalises subnormal halves (there are no infinities)."""
        v, i, h = self.v, self.i, f"<{self.width} x i16>"
        if self.native_half:
            self(f"%{result}.half = load <{self.width} x half>, ptr {address}, align 2")
            self(f"%{result} = fpext <{self.width} x half> %{result}.half to {v}")
            return
        self(f"%{result}.h = load {h}, ptr {address}, align 2")
        self(f"%{result}.h32 = zext {h} %{result}.h to {i}")
        self(f"%{result}.sign = and {i} %{result}.h32, {self.splat_int(0x8000)}")
        self(f"%{result}.sign32 = shl {i} %{result}.sign, {self.splat_int(16)}")
        self(f"%{result}.body = and {i} %{result}.h32, {self.splat_int(0x7FFF)}")
        self(f"%{result}.body32 = shl {i} %{result}.body, {self.splat_int(13)}")
        self(f"%{result}.unscaled = bitcast {i} %{result}.body32 to {v}")
        self(f"%{result}.magnitude = fmul {v} %{result}.unscaled, {self.splat(2.0**112)}")
        self.as_bits(f"{result}.magnitude.bits", f"%{result}.magnitude")
        self(f"%{result}.bits = or {i} %{result}.magnitude.bits, %{result}.sign32")
        self(f"%{result} = bitcast {i} %{result}.bits to {v}")

    def store_half(self, value: str, address: str) -> None:
        """A float32 row of lanes stored in half precision, rounded to nearest even (by hand as in
        :meth:`load_half` where the CPU has no conversion: normal halves by integer rounding of the
        bits, subnormal ones by adding 0.5, which leaves them in the low mantissa bits)."""
        v, i, h = self.v, self.i, f"<{self.width} x i16>"
        name = value.lstrip("%")
        if self.native_half:
            self(f"%{name}.half = fptrunc {v} {value} to <{self.width} x half>")
            self(f"store <{self.width} x half> %{name}.half, ptr {address}, align 2")
            return
        self.as_bits(f"{name}.f32", value)
        self(f"%{name}.sign = and {i} %{name}.f32, {self.splat_int(_SIGN_BIT)}")
        self(f"%{name}.abs = xor {i} %{name}.f32, %{name}.sign")
        self(f"%{name}.odd.at = lshr {i} %{name}.abs, {self.splat_int(13)}")
        self(f"%{name}.odd = and {i} %{name}.odd.at, {self.splat_int(1)}")
        self(f"%{name}.rebiased = add {i} %{name}.abs, {self.splat_int(0xC8000FFF - 2**32)}")
        self(f"%{name}.rounded = add {i} %{name}.rebiased, %{name}.odd")
        self(f"%{name}.normal = lshr {i} %{name}.rounded, {self.splat_int(13)}")
        self(f"%{name}.abs.float = bitcast {i} %{name}.abs to {v}")
        self(f"%{name}.shifted = fadd {v} %{name}.abs.float, {self.splat(0.5)}")
        self.as_bits(f"{name}.shifted.bits", f"%{name}.shifted")
        self(f"%{name}.subnormal = sub {i} %{name}.shifted.bits, {self.splat_int(0x3F000000)}")
        self(f"%{name}.small = icmp ult {i} %{name}.abs, {self.splat_int(0x38800000)}")
        self(f"%{name}.body = select {self.b} %{name}.small, {i} %{name}.subnormal, {i} %{name}.normal")
        self(f"%{name}.sign16 = lshr {i} %{name}.sign, {self.splat_int(16)}")
        self(f"%{name}.h32 = or {i} %{name}.body, %{name}.sign16")
        self(f"%{name}.h = trunc {i} %{name}.h32 to {h}")
        self(f"store {h} %{name}.h, ptr {address}, align 2")

    def as_bits(self, result: str, value: str) -> None:
        self(f"%{result} = bitcast {self.v} {value} to {self.i}")

    def exp_minus_abs(self, result: str, value: str) -> None:
        """``%result = e^-|value|``: ``y = -|value| log2(e) = k + t`` with ``k = floor(y)``, ``2^t`` a
        polynomial and ``2^k`` put into the exponent."""
        v, i = self.v, self.i
        # |value| clipped at 30 (e^-30 is about 1e-13) so that x never goes subnormal: arithmetic on
        # subnormal floats takes a slow microcode path on x86 (a sweep ran 3 times slower without it)
        if self.avx512:  # the smaller magnitude of the two, sign cleared: one instruction
            self.x86(f"{result}.clipped", "mask.range.ps.512", value, self.splat(30.0))
        else:
            self.call(f"{result}.magnitude", "fabs", value)
            self.call(f"{result}.clipped", "minnum", f"%{result}.magnitude", self.splat(30.0))
        self(f"%{result}.y = fmul fast {v} %{result}.clipped, {self.splat(-1.4426950408889634)}")
        if self.avx512:  # y - floor(y) and the scaling by 2^floor(y) are one instruction each
            self.x86(f"{result}.t", "mask.reduce.ps.512", f"%{result}.y")
            self.polynomial(f"{result}.two.t", f"{result}.t", _EXP2)
            self.x86(result, "mask.scalef.ps.512", f"%{result}.two.t", f"%{result}.y")
            return
        self.call(f"{result}.k", "floor", f"%{result}.y")
        self(f"%{result}.t = fsub fast {v} %{result}.y, %{result}.k")
        self.polynomial(f"{result}.two.t", f"{result}.t", _EXP2)
        self(f"%{result}.k.int = fptosi {v} %{result}.k to {i}")
        self(f"%{result}.k.bits = shl {i} %{result}.k.int, {self.splat_int(23)}")
        self.as_bits(f"{result}.two.t.bits", f"%{result}.two.t")
        self(f"%{result}.bits = add {i} %{result}.two.t.bits, %{result}.k.bits")
        self(f"%{result} = bitcast {i} %{result}.bits to {v}")

    def ln_of_ratio(self, result: str, numerator: str, denominator: str) -> None:
        """``%result = ln(numerator / denominator)`` for positive normal floats: exponent times ``ln 2`` plus
        a polynomial of the mantissa."""
        v, i = self.v, self.i
        if self.avx512:  # the reciprocal estimate (2^-14) is close enough: no Newton step
            self.x86(f"{result}.reciprocal", "rcp14.ps.512", denominator)
            self(f"%{result}.ratio = fmul fast {v} {numerator}, %{result}.reciprocal")
            self.x86(f"{result}.exponent", "mask.getexp.ps.512", f"%{result}.ratio")
            self.x86(f"{result}.one", "mask.getmant.ps.512", f"%{result}.ratio")
            coefficients = _LN_MANTISSA
        else:
            self(f"%{result}.ratio = fdiv fast {v} {numerator}, {denominator}")
            self.as_bits(f"{result}.ratio.bits", f"%{result}.ratio")
            self(f"%{result}.exponent.bits = lshr {i} %{result}.ratio.bits, {self.splat_int(23)}")
            self(f"%{result}.exponent = sitofp {i} %{result}.exponent.bits to {v}")
            self(f"%{result}.mantissa.bits = and {i} %{result}.ratio.bits, {self.splat_int(0x7FFFFF)}")
            self(f"%{result}.one.bits = or {i} %{result}.mantissa.bits, {self.splat_int(0x3F800000)}")
            self(f"%{result}.one = bitcast {i} %{result}.one.bits to {v}")
            coefficients = _LN_MANTISSA_BIASED
        self(f"%{result}.t = fsub fast {v} %{result}.one, {self.splat(1.0)}")
        self.polynomial(f"{result}.fraction", f"{result}.t", coefficients)
        self.call(result, "fma", f"%{result}.exponent", self.splat(_LN2), f"%{result}.fraction")


def _first_pass(w: _Writer) -> None:
    """Per edge: the input ``q`` (stored), the parities, and ``x = e^-|q|`` folded into ``N`` and ``D``.

    The parities are xors of the inputs' and posteriors' bits (only the sign bit is read afterwards)."""
    v, b, i = w.v, w.b, w.i
    w("first.head:")
    w("%j = phi i64 [0, %check.body], [%j.next, %first.body]")
    w(f"%num = phi {v} [{w.splat(1.0)}, %check.body], [%num.next, %first.body]")
    w(f"%den = phi {v} [{w.splat(1.0)}, %check.body], [%den.next, %first.body]")
    w(f"%sign = phi {i} [%odd.bits, %check.body], [%sign.next, %first.body]")
    w(f"%hard = phi {i} [%odd.bits, %check.body], [%hard.next, %first.body]")
    w("%first.done = icmp eq i64 %j, %degree")
    w("br i1 %first.done, label %first.exit, label %first.body")
    w("first.body:")
    w("%e = add i64 %first, %j")
    w("%bit.at = getelementptr i32, ptr %col_idx, i64 %e")
    w("%bit.32 = load i32, ptr %bit.at, align 4")
    w("%bit = sext i32 %bit.32 to i64")
    # the posterior row of the next check's j-th bit and that edge's message row, a check ahead: the
    # posteriors are scattered, and the hardware prefetcher does not keep up with the message stream
    # either (the sweep ran 1.2 times faster with the messages asked for too)
    w("%ahead = add i64 %e, %degree")
    w("%ahead.ok = icmp slt i64 %ahead, %n_edges")
    w("%ahead.e = select i1 %ahead.ok, i64 %ahead, i64 %e")
    w("%ahead.at = getelementptr i32, ptr %col_idx, i64 %ahead.e")
    w("%ahead.32 = load i32, ptr %ahead.at, align 4")
    w("%ahead.bit = sext i32 %ahead.32 to i64")
    w.row("ahead.row", "%llr", "%ahead.bit", "half")
    for line in range(0, w.width, 32):  # 32 halves to a 64-byte cache line
        w(f"%ahead.line{line} = getelementptr half, ptr %ahead.row, i64 {line}")
        w(f"call void @llvm.prefetch.p0(ptr %ahead.line{line}, i32 0, i32 3, i32 1)")
    w.row("ahead.messages", "%messages", "%ahead.e", "half")
    for line in range(0, w.width, 32):
        w(f"%ahead.messages.line{line} = getelementptr half, ptr %ahead.messages, i64 {line}")
        w(f"call void @llvm.prefetch.p0(ptr %ahead.messages.line{line}, i32 0, i32 3, i32 1)")
    w.row("posterior.at", "%llr", "%bit", "half")
    w.load_half("stored", "%posterior.at")
    # a frame new to its lane meets each bit first with its prior: certain (shortened) or the channel's
    # (two vector compares: a branch on the first touch, which LLVM would otherwise make of a select,
    # mispredicted on about one edge in six)
    w("%touch.at = getelementptr i32, ptr %touch_rank, i64 %e")
    w("%touch = load i32, ptr %touch.at, align 4")
    w(f"%touch.one = insertelement {w.i} poison, i32 %touch, i32 0")
    w(f"%touch.row = shufflevector {w.i} %touch.one, {w.i} poison, {w.i} zeroinitializer")
    w(f"%from.prior = icmp sgt {w.i} %touch.row, %fresh.threshold")
    w(f"%shortened = icmp slt {w.i} %touch.row, %n_short.row")
    w(f"%prior.here = select {b} %shortened, {v} {w.splat(CERTAIN_LLR)}, {v} %prior.row")
    w(f"%posterior = select {b} %from.prior, {v} %prior.here, {v} %stored")
    w.row("message.at", "%messages", "%e", "half")
    w.load_half("old", "%message.at")
    w(f"%q.reused = fsub fast {v} %posterior, %old")
    w(f"%q = select {b} %fresh, {v} %posterior, {v} %q.reused")  # a new frame has no messages yet
    w.row("q.at", "%inputs", "%j")
    w(f"store {v} %q, ptr %q.at, align 4")
    w.as_bits("posterior.bits", "%posterior")
    w(f"%hard.next = xor {i} %hard, %posterior.bits")
    w.as_bits("q.bits", "%q")
    w(f"%sign.next = xor {i} %sign, %q.bits")
    w.exp_minus_abs("x", "%q")
    w(f"%low = fsub fast {v} {w.splat(1.0)}, %x")
    w.call("low.clipped", "maxnum", "%low", w.splat(1e-7))
    w.row("low.at", "%factors", "%j")
    w(f"store {v} %low.clipped, ptr %low.at, align 4")
    w(f"%num.product = fmul fast {v} %num, %low.clipped")
    w.call("num.next", "maxnum", "%num.product", w.splat(1e-30))
    w.call("den.next", "fma", "%den", "%x", "%den")
    w("%j.next = add i64 %j, 1")
    w("br label %first.head")


def _check_totals(w: _Writer) -> None:
    """After the first pass: the check's unsatisfied lanes counted, and the sums the second pass needs.

    With ``u = D (1 - x)`` and ``n = N (1 + x)``, ``A = u + n = (1 - x)(D - N) + 2N`` and
    ``B = u - n = (1 - x)(D + N) - 2N``: one fused multiply-add each per edge."""
    v, i = w.v, w.i
    w("first.exit:")
    w(f"%unsatisfied.here = lshr {i} %hard, {w.splat_int(31)}")
    w(f"%count.next = add {i} %count, %unsatisfied.here")
    w(f"%sign.only = and {i} %sign, {w.splat_int(_SIGN_BIT)}")
    w(f"%den.minus.num = fsub fast {v} %den, %num")
    w(f"%den.plus.num = fadd fast {v} %den, %num")
    w(f"%two.num = fadd fast {v} %num, %num")
    w(f"%minus.two.num = fneg fast {v} %two.num")
    w("br label %second.head")


def _second_pass(w: _Writer) -> None:
    """Per edge: the new message ``+-ln(A / B)`` and the posterior ``q`` plus it."""
    v, i = w.v, w.i
    w("second.head:")
    w("%k = phi i64 [0, %first.exit], [%k.next, %second.body]")
    w("%second.done = icmp eq i64 %k, %degree")
    w("br i1 %second.done, label %check.head.next, label %second.body")
    w("second.body:")
    w("%e2 = add i64 %first, %k")
    w("%bit2.at = getelementptr i32, ptr %col_idx, i64 %e2")
    w("%bit2.32 = load i32, ptr %bit2.at, align 4")
    w("%bit2 = sext i32 %bit2.32 to i64")
    w.row("q2.at", "%inputs", "%k")
    w(f"%q2 = load {v}, ptr %q2.at, align 4")
    w.row("low2.at", "%factors", "%k")
    w(f"%low2 = load {v}, ptr %low2.at, align 4")
    w.call("sum", "fma", "%low2", "%den.minus.num", "%two.num")
    w.call("difference", "fma", "%low2", "%den.plus.num", "%minus.two.num")
    w(f"%floor = fmul fast {v} %sum, {w.splat(6e-8)}")
    w.call("difference.clipped", "maxnum", "%difference", "%floor")
    w.ln_of_ratio("magnitude2", "%sum", "%difference.clipped")
    # the message's sign: the input's sign bit flipped by the parity of the check's other signs
    w.as_bits("q2.bits", "%q2")
    w(f"%flip = xor {i} %q2.bits, %sign.only")
    w(f"%flip.sign = and {i} %flip, {w.splat_int(_SIGN_BIT)}")
    w.as_bits("magnitude2.bits", "%magnitude2")
    w(f"%message.bits = xor {i} %magnitude2.bits, %flip.sign")
    w(f"%message = bitcast {i} %message.bits to {v}")
    w.row("message2.at", "%messages", "%e2", "half")
    w.store_half("%message", "%message2.at")
    w(f"%posterior2 = fadd fast {v} %q2, %message")
    w.row("posterior2.at", "%llr", "%bit2", "half")
    w.store_half("%posterior2", "%posterior2.at")
    w.as_bits("posterior2.bits", "%posterior2")
    w(f"%decided.one = icmp slt {i} %posterior2.bits, zeroinitializer")
    w(f"%decided.narrow = bitcast {w.b} %decided.one to i{w.width}")
    w(
        f"%decided = zext i{w.width} %decided.narrow to i32"
        if w.width < 32
        else "%decided = add i32 %decided.narrow, 0"
    )
    w("%decided.at = getelementptr i32, ptr %decisions, i64 %bit2")
    w("store i32 %decided, ptr %decided.at, align 4")
    w("%k.next = add i64 %k, 1")
    w("br label %second.head")


def _function_text(width: int, avx512: bool, native_half: bool) -> list[str]:
    """One sweep over every check for rows of ``width`` lanes."""
    w = _Writer(width, avx512, native_half)
    v, b, i = w.v, w.b, w.i
    w(
        f"define void @{_FUNCTION}{width}(ptr noalias %llr, ptr noalias %messages, ptr noalias %targets, "
        "ptr noalias %reuse, ptr noalias %unsatisfied, ptr noalias %row_ptr, ptr noalias %col_idx, "
        "ptr noalias %touch_rank, ptr noalias %n_short, ptr noalias %decisions, "
        "ptr noalias %inputs, ptr noalias %factors, i64 %n_checks, i64 %n_edges, float %prior) #0 {"
    )
    w("entry:")
    w(f"%reuse.row = load {v}, ptr %reuse, align 4")
    w(f"%fresh = fcmp oeq {v} %reuse.row, zeroinitializer")
    w(f"%n_short.row = load {i}, ptr %n_short, align 4")
    # a new frame's lane reads priors where the touch rank is 0 or more; other lanes never do
    w(f"%fresh.threshold = select {b} %fresh, {i} {w.splat_int(-1)}, {i} {w.splat_int(2**31 - 1)}")
    w(f"%prior.one = insertelement {v} poison, float %prior, i32 0")
    w(f"%prior.row = shufflevector {v} %prior.one, {v} poison, {i} zeroinitializer")
    w("br label %check.head")
    w("check.head:")
    w("%c = phi i64 [0, %entry], [%c.next, %check.head.next]")
    w(f"%count = phi {i} [zeroinitializer, %entry], [%count.next, %check.head.next]")
    w("%all.done = icmp eq i64 %c, %n_checks")
    w("br i1 %all.done, label %exit, label %check.body")
    w("check.body:")
    w("%first.at = getelementptr i32, ptr %row_ptr, i64 %c")
    w("%first.32 = load i32, ptr %first.at, align 4")
    w("%c.next = add i64 %c, 1")
    w("%stop.at = getelementptr i32, ptr %row_ptr, i64 %c.next")
    w("%stop.32 = load i32, ptr %stop.at, align 4")
    w("%first = sext i32 %first.32 to i64")
    w("%stop = sext i32 %stop.32 to i64")
    w("%degree = sub i64 %stop, %first")
    w("%target.at = getelementptr i32, ptr %targets, i64 %c")
    w("%target = load i32, ptr %target.at, align 4")
    w(
        f"%target.narrow = trunc i32 %target to i{w.width}"
        if w.width < 32
        else "%target.narrow = add i32 %target, 0"
    )
    w(f"%odd = bitcast i{w.width} %target.narrow to {b}")
    w(f"%odd.bits = select {b} %odd, {i} {w.splat_int(_SIGN_BIT)}, {i} zeroinitializer")
    w("br label %first.head")
    _first_pass(w)
    _check_totals(w)
    _second_pass(w)
    w("check.head.next:")
    w("br label %check.head")
    w("exit:")
    wide = f"<{width} x i64>"
    w(f"%before = load {wide}, ptr %unsatisfied, align 8")
    w(f"%count.wide = zext {i} %count to {wide}")
    w(f"%after = add {wide} %before, %count.wide")
    w(f"store {wide} %after, ptr %unsatisfied, align 8")
    w("ret void")
    w.lines.append("}")
    return w.lines


def _module_text(avx512: bool, native_half: bool) -> str:
    """The whole IR module: a sweep per lane width, the intrinsics' declarations and the attributes."""
    lines = []
    for width in WIDTHS:
        lines += _function_text(width, avx512, native_half)
        v = f"<{width} x float>"
        lines += [
            *(f"declare {v} @llvm.{name}.v{width}f32({v})" for name in ("fabs", "floor")),
            *(f"declare {v} @llvm.{name}.v{width}f32({v}, {v})" for name in ("minnum", "maxnum")),
            f"declare {v} @llvm.fma.v{width}f32({v}, {v}, {v})",
        ]
    lines += [
        "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)",
        *(
            f"declare <16 x float> @llvm.x86.avx512.{name}("
            + ", ".join(["<16 x float>"] * count + [part.rsplit(" ", 1)[0] for part in tail.split(", ")])
            + ")"
            for name, (tail, count) in (_AVX512.items() if avx512 else ())
        ),
        # 512-bit registers where the CPU has them (LLVM otherwise keeps to 256 on such CPUs); the
        # quotient from the reciprocal estimate and one Newton step
        'attributes #0 = { noinline nounwind "min-legal-vector-width"="512" '
        '"reciprocal-estimates"="vec-divf:1,divf:1" }',
    ]
    return "\n".join(lines) + "\n"


_LIBRARIES: list[Any] = []


def has_avx512() -> bool:
    """Whether numba compiles for a CPU with the AVX-512 instructions the sweep can use (foundation and
    doubleword/quadword: ``vreduceps`` is in the latter), which ``NUMBA_CPU_NAME`` and
    ``NUMBA_CPU_FEATURES`` override, so cached code matches what it was built for."""
    return {"avx512f", "avx512dq"} <= target_features()


def has_half_conversion() -> bool:
    """Whether LLVM converts between half and single precision in instructions for numba's target: on x86
    only with F16C (every x86-64 CPU since 2012); other targets numba runs on (ARMv8, POWER9) have them."""
    return not target_triple().startswith(("x86", "i386", "i686")) or "f16c" in target_features()


def _library(context: Any) -> Any:
    """The compiled module, built once per process and linked into every function that calls it."""
    if not _LIBRARIES:
        codegen = context.codegen()
        library = codegen.create_library("openqci_sum_product_lanes")
        text = _module_text(has_avx512(), has_half_conversion())
        module = llvmlite.binding.parse_assembly(text)
        module.verify()
        library.add_llvm_module(module)
        library.finalize()
        _LIBRARIES.append(library)
    return _LIBRARIES[0]


def _sweep_of(width: int) -> Any:
    """The numba intrinsic that calls the sweep on rows of ``width`` lanes (the caller checks shapes).

    Its arguments are the IR function's 12 arrays as one tuple, then the prior as a float32.
    """
    name = f"{_FUNCTION}{width}"

    def typer(typingctx: Any, arrays: Any, prior: Any) -> Any:
        if not isinstance(arrays, types.BaseTuple) or len(arrays) != 12 or prior != types.float32:
            return None
        if not all(isinstance(array, types.Array) for array in arrays):  # type: ignore[attr-defined]
            return None
        if arrays[0].dtype != types.uint16 or arrays[1].dtype != types.uint16:  # type: ignore[index]
            return None  # posteriors and messages are half-precision bits

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            context.active_code_library.add_linking_library(_library(context))
            pointer = ir.IntType(8).as_pointer()
            i64 = ir.IntType(64)
            function_type = ir.FunctionType(ir.VoidType(), [pointer] * 12 + [i64, i64, ir.FloatType()])
            module = builder.module
            function = module.globals.get(name) or ir.Function(module, function_type, name)
            views = [
                context.make_array(kind)(context, builder, builder.extract_value(args[0], k))
                for k, kind in enumerate(signature.args[0])
            ]
            data = [builder.bitcast(view.data, pointer) for view in views]
            n_checks = builder.sub(builder.extract_value(views[5].shape, 0), ir.Constant(i64, 1))
            n_edges = builder.extract_value(views[6].shape, 0)
            builder.call(function, [*data, n_checks, n_edges, args[1]])
            return context.get_dummy_value()

        return types.void(arrays, prior), codegen

    return intrinsic(typer)


_SWEEP_32, _SWEEP_16, _SWEEP_8, _SWEEP_4, _SWEEP_2, _SWEEP_1 = (_sweep_of(width) for width in WIDTHS)


@numba.njit(cache=True, nogil=True)
def first_touch_ranks(
    col_idx: NDArray[np.int32], rank: NDArray[np.int32]
) -> NDArray[np.int32]:  # pragma: no cover - numba
    """Per edge: where it is its bit's first edge in sweep order (where a frame new to its lane reads the
    bit's prior), the bit's rank in the shortening order (a frame shortens the bits ranked below its
    ``n_short``); -1 on every other edge."""
    seen = np.zeros(rank.size, dtype=np.bool_)
    touch_rank = np.full(col_idx.size, -1, dtype=np.int32)
    for e in range(col_idx.size):
        if not seen[col_idx[e]]:
            seen[col_idx[e]] = True
            touch_rank[e] = rank[col_idx[e]]
    return touch_rank


LaneState = tuple[
    NDArray[np.uint16],
    NDArray[np.uint16],
    NDArray[np.uint32],
    NDArray[np.float32],
    NDArray[np.int32],
    NDArray[np.uint32],
]
"""Lanes' working arrays: posteriors ``(n, 32)`` and messages ``(edges, 32)`` in half precision (their
IEEE bits as ``uint16``; see :func:`openqci.link._lane_tables.half_lane_table`), per check the target syndrome
bits of the 32 lanes (bit ``i``: lane ``i``), per lane 0.0 while it holds a frame that has not been swept
yet (its stored posteriors and messages are the previous frame's: the sweep reads priors and zeros
instead) and 1.0 after, per lane the number of shortened positions of its frame, and per bit the 32
lanes' hard decisions (bit ``i``: lane ``i`` decides 1), written by every sweep."""


@numba.njit(cache=True, nogil=True)
def sweep_lanes_sum_product(
    row_ptr: NDArray[np.int32],
    col_idx: NDArray[np.int32],
    priors: tuple[NDArray[np.int32], float],
    state: LaneState,
    unsatisfied: NDArray[np.int64],
) -> None:  # pragma: no cover - numba
    """One layered sum-product iteration over 32, 16, 8, 4, 2 or 1 lanes; counts per lane the unsatisfied
    checks.

    ``priors`` is :func:`first_touch_ranks` of the code and the shortening order, and the channel's prior
    LLR.
    """
    llr, messages, targets, reuse, n_short, decisions = state
    touch_rank, prior = priors
    width = llr.shape[1]
    if width not in (32, 16, 8, 4, 2, 1):
        raise ValueError("the sum-product lane sweep works on rows of 32, 16, 8, 4, 2 or 1 lanes")
    if (
        messages.shape[1] != width
        or reuse.size != width
        or n_short.size != width
        or unsatisfied.size != width
    ):
        raise ValueError("lane arrays of different widths")
    if (
        targets.size != row_ptr.size - 1
        or messages.shape[0] != col_idx.size
        or touch_rank.size != col_idx.size
    ):
        raise ValueError("lane arrays do not match the code")
    if decisions.size != llr.shape[0]:
        raise ValueError("lane arrays do not match the code")
    if not (llr.flags.c_contiguous and messages.flags.c_contiguous):
        raise ValueError("lane arrays must be C-contiguous")
    max_row = int(np.max(np.diff(row_ptr)))
    inputs = np.empty((max_row, width), dtype=np.float32)
    factors = np.empty((max_row, width), dtype=np.float32)
    arrays = (llr, messages, targets, reuse, unsatisfied, row_ptr, col_idx, touch_rank, n_short)
    arrays_and_scratch = (*arrays, decisions, inputs, factors)
    if width == 32:
        _SWEEP_32(arrays_and_scratch, np.float32(prior))
    elif width == 16:
        _SWEEP_16(arrays_and_scratch, np.float32(prior))
    elif width == 8:
        _SWEEP_8(arrays_and_scratch, np.float32(prior))
    elif width == 4:
        _SWEEP_4(arrays_and_scratch, np.float32(prior))
    elif width == 2:
        _SWEEP_2(arrays_and_scratch, np.float32(prior))
    else:
        _SWEEP_1(arrays_and_scratch, np.float32(prior))
    reuse[:] = 1.0
