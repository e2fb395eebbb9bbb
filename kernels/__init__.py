"""Numba kernels of fastprob (installed as ``fastprob.kernels``).

Plain ``@njit`` loops with no validation: callers in :mod:`fastprob` check and
coerce the input, allocate the outputs and pass them in.  Kernels write into
``out`` arrays and report problems through return codes, never by raising inside
parallel code.  Nothing here imports from :mod:`fastprob`.
"""
