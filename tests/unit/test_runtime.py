"""Which precision the CPU encoder picks, from the CPU's flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmdemo import runtime


@pytest.mark.parametrize("line,native", [
    ("flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16", True),
    ("flags\t\t: fpu sse2 avx2 amx_tile amx_bf16", True),
    ("Features\t: fp asimd bf16 i8mm", True),
    ("flags\t\t: fpu sse2 avx2 fma", False),
])
def test_bf16_is_native_only_with_its_cpu_flags(tmp_path: Path, line: str, native: bool) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text(f"processor\t: 0\nmodel name\t: a bf16 CPU\n{line}\n")
    assert runtime.cpu_has_bf16(str(info)) is native
    assert runtime.cpu_has_bf16(str(tmp_path / "missing")) is False


def test_the_setting_overrides_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for native in (True, False):
        monkeypatch.setattr(runtime, "cpu_has_bf16", lambda native=native: native)
        assert runtime.encoder_in_bf16("auto") is native
        assert runtime.encoder_in_bf16("bfloat16") is True
        assert runtime.encoder_in_bf16("float32") is False
