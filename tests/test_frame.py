"""kernels.frame: align_stack_frame realigns the frame of the function it is inlined into.

The unrolled solvers call it (their spilled, broadcast factor entries are then
64-byte aligned; see the module docstring for the measured effect).
"""
import platform
import re

import numba
import numpy as np
import pytest

from fastprob.kernels import _config
from fastprob.kernels import gaussian as G
from fastprob.kernels.frame import align_stack_frame

X86 = platform.machine().lower() in ("x86_64", "amd64")
REALIGN = re.compile(r"andq\s+\$-64, %rsp")


def _machine_code(py_func, *args):
    fn = numba.njit(fastmath=set(_config.FASTMATH_STRICT), error_model="numpy")(py_func)
    fn(*args)
    return fn.overloads[fn.signatures[0]].library.get_asm_str()


pytestmark = pytest.mark.skipif(not X86, reason=f"the realignment is checked in x86-64 code; this is {platform.machine()}")


def test_align_stack_frame_realigns_the_caller():
    def plain(x):
        return x + 1.0

    def aligned(x):
        align_stack_frame()
        return x + 1.0

    assert not REALIGN.search(_machine_code(plain, 1.0))
    assert REALIGN.search(_machine_code(aligned, 1.0))


def test_unrolled_solvers_align_their_frame():
    for D in G.UNROLLED_WIDTHS:
        for centre in (None, "centred", "split"):
            source = G._unrolled_mahalanobis_source(D, centre)  # (the centring ones for D >= 8 are unused: see simd)
            assert source.splitlines()[1].strip().startswith("align_stack_frame()")

    def run(L, Z, nt, maha):
        G.mahalanobis_16(L, Z, nt, maha)

    assert REALIGN.search(_machine_code(run, np.eye(16), np.ones((16, 32)), 32, np.empty(32)))
