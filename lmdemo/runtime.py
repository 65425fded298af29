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

