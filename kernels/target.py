"""The vector plan: what the CPU that Numba compiles for offers the explicit-vector kernels.

Numba compiles for the host CPU unless ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``
name another one; this module asks LLVM, configured exactly as Numba configures
it, what that target does with a wide vector operation, and derives from it the
one :data:`PLAN` that every kernel with a fixed vector width uses:

=================  ============  =========  ==========
instruction set    vector bytes  registers  fused madd
=================  ============  =========  ==========
``avx512``         64            32         yes
``avx2``           32            16         yes
``avx``            32            16         no
``sse2`` / other   16            16         no
``neon`` (arm64)   16            32         yes
=================  ============  =========  ==========

Asking LLVM rather than reading ``/proc/cpuinfo`` or a table of CPU names keeps
the plan right for whatever Numba is told: ``NUMBA_CPU_NAME=haswell`` alone
keeps the host's feature list (AVX-512 code under a Haswell name), while
``NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES=`` gives Haswell's own features.

The plan is a function of Numba's target (CPU name and features), which is part
of Numba's cache key: code compiled for one plan is never loaded for another.
"""
import re
from dataclasses import dataclass

import llvmlite.binding as ll
from numba.core import config
from numba.core.codegen import get_host_cpu_features

__all__ = ["VectorPlan", "PLAN", "plan_for"]


@dataclass(frozen=True)
class VectorPlan:
    """The vector resources of one compilation target.

    Attributes
    ----------
    cpu : str
        The CPU name Numba compiles for (e.g. 'znver4', 'haswell', 'x86-64').
    isa : str
        'avx512', 'avx2' (32-byte vectors with FMA), 'avx' (without), 'sse2',
        'neon' or 'generic'.
    vector_bytes : int
        Width of one vector register: 64, 32 or 16.
    registers : int
        Number of vector registers (32 with AVX-512 and on arm64, else 16).
    fma : bool
        Whether the target has a fused multiply-add instruction.
    forced : bool
        True when ``NUMBA_CPU_NAME``, ``NUMBA_CPU_FEATURES`` or ``NUMBA_ENABLE_AVX=0``
        changed the target from the host's.
    """

    cpu: str
    isa: str
    vector_bytes: int
    registers: int
    fma: bool
    forced: bool

    def lanes(self, itemsize):
        """Elements of ``itemsize`` bytes per vector."""
        return self.vector_bytes // itemsize

    def describe(self):
        """One line for reports, e.g. 'znver4, avx512 (64-byte vectors, 32 registers, fma)'."""
        forced = ", forced by NUMBA_CPU_NAME/NUMBA_CPU_FEATURES/NUMBA_ENABLE_AVX" if self.forced else ""
        fma = ", fma" if self.fma else ", no fma"
        return f"{self.cpu}, {self.isa} ({self.vector_bytes}-byte vectors, {self.registers} registers{fma}{forced})"


# A 64-byte multiply: the register names LLVM gives it say the widest legal
# vector.  A fused multiply-add: an instruction, not a libm call, says the
# target fuses (without one LLVM splits the vector into scalar calls to fmaf).
_PROBE = """
define void @{name}(ptr %p) {{
  %a = load <16 x float>, ptr %p, align 4
  %r = {op}
  store <16 x float> %r, ptr %p, align 4
  ret void
}}
declare <16 x float> @llvm.fma.v16f32(<16 x float>, <16 x float>, <16 x float>)
"""
_MULTIPLY = "fmul <16 x float> %a, %a"
_FUSED = "call <16 x float> @llvm.fma.v16f32(<16 x float> %a, <16 x float> %a, <16 x float> %a)"


def numba_target():
    """(triple, CPU name, feature string) exactly as Numba's JIT uses them."""
    ll.initialize_native_target()
    ll.initialize_native_asmprinter()
    cpu = config.CPU_NAME if config.CPU_NAME is not None else ll.get_host_cpu_name()
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    return ll.get_process_triple(), cpu, features


def plan_for(triple, cpu, features, forced=False):
    """The :class:`VectorPlan` of a target, from the machine code LLVM generates for it."""
    machine = ll.Target.from_triple(triple).create_target_machine(cpu=cpu, features=features, opt=2)

    def machine_code(name, op):
        module = ll.parse_assembly(_PROBE.format(name=name, op=op))
        module.triple = triple
        module.data_layout = str(machine.target_data)
        module.verify()
        return machine.emit_assembly(module)

    arch = triple.split("-")[0]
    if arch in ("x86_64", "i386", "i686"):
        widest, fused = machine_code("multiply", _MULTIPLY), machine_code("fused", _FUSED)
        fma = bool(re.search(r"\bvfn?madd", fused))
        if "zmm" in widest:
            isa, width, registers = "avx512", 64, 32
        elif "ymm" in widest:
            isa, width, registers = "avx2" if fma else "avx", 32, 16
        else:
            isa, width, registers = "sse2", 16, 16
    elif arch in ("aarch64", "arm64"):
        isa, width, registers = "neon", 16, 32
        fma = "fmla" in machine_code("fused", _FUSED)
    else:  # other architectures: a conservative plan that is correct anywhere
        isa, width, registers, fma = "generic", 16, 16, False
    return VectorPlan(cpu=cpu, isa=isa, vector_bytes=width, registers=registers, fma=fma, forced=forced)


def _current_plan():
    triple, cpu, features = numba_target()
    forced = config.CPU_NAME is not None or config.CPU_FEATURES is not None or not config.ENABLE_AVX
    return plan_for(triple, cpu, features, forced)


#: The plan of the target Numba compiles for in this process.
PLAN = _current_plan()
