"""Process-wide performance settings that every entry point applies once."""

from __future__ import annotations


def limit_blas_threads() -> None:
    """Keep numpy's BLAS to one thread: torch owns the cores.

    Our numpy work is small (a query against a few thousand passage vectors), but OpenBLAS
    threads spin-wait after each call and, on a 2-core machine, halve the speed of the torch
    encoder that runs next (retrieval p50 went from 36 ms to 16 ms on aclsum-dev).
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")



def cpu_has_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX on x86, BF16 on Arm).

    Without it bf16 matrix products are emulated and slower than fp32, so only then does the
    encoder run in bf16.
    """
    try:
        with open(cpuinfo, encoding="utf-8") as info:
            flags = {word for line in info if line.startswith(("flags", "Features")) for word in line.split()}
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def encoder_in_bf16(encoder_dtype: str) -> bool:
    """Whether an unquantized encoder on the CPU runs in bf16: `bfloat16`, or `auto` on a CPU that has it."""
    return encoder_dtype == "bfloat16" or (encoder_dtype == "auto" and cpu_has_bf16())
