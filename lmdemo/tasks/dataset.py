"""Labelled text from a user's CSV (`text,label`), checked with a clear message for each problem."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lmdemo.errors import UserError

MAX_ROWS = 50_000
MAX_BYTES = 50 * 2**20


class DatasetError(UserError):
    """A CSV that cannot be used; the message says how to fix it."""


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with their labels (labels may be empty for an unlabelled test file)."""

    texts: list[str]
    labels: list[str]

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))


def read_csv(path: Path, *, require_labels: bool = True, max_rows: int = MAX_ROWS) -> LabelledTexts:
    """Read `text,label` rows; refuse what would train a useless or broken model."""
    name = path.name
    if not path.is_file() or path.stat().st_size == 0:
        raise DatasetError(f"{name}: the file is empty", f"{name}：文件是空的")
    if path.stat().st_size > MAX_BYTES:
        raise DatasetError(f"{name}: over the {MAX_BYTES // 2**20} MB limit", f"{name}：超过了 {MAX_BYTES // 2**20} MB 的上限")
    try:
        content = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"{name}: not UTF-8 text (byte {error.start}); save the CSV as UTF-8",
                           f"{name}：不是 UTF-8 文本（字节偏移 {error.start}）；请把 CSV 另存为 UTF-8") from error
    reader = csv.DictReader(io.StringIO(content))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "text" not in columns or (require_labels and "label" not in columns):
        wanted, wanted_zh = ("`text` and `label`", "`text` 和 `label`") if require_labels else ("`text`", "`text`")
        found = ", ".join(columns)
        raise DatasetError(f"{name}: needs columns {wanted}; found {found or 'none'}",
                           f"{name}：需要 {wanted_zh} 列；找到的是 {found or '无'}")
    texts, labels = [], []
    for row in reader:
        row = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
        text = row.get("text", "").strip()
        if not text:
            continue
        texts.append(text)
        labels.append(row.get("label", "").strip())
        if len(texts) > max_rows:
            raise DatasetError(f"{name}: more than {max_rows:,} rows; use a sample",
                               f"{name}：超过 {max_rows:,} 行；请用其中一部分")
    if not texts:
        raise DatasetError(f"{name}: no rows with text", f"{name}：没有带文字的行")
    data = LabelledTexts(texts, labels)
    if require_labels:
        if any(not label for label in labels):
            raise DatasetError(f"{name}: some rows have no label", f"{name}：有的行没有标签")
        if len(data.classes) < 2:
            raise DatasetError(f"{name}: only one class ({data.classes[0]}); a classifier needs at least two",
                               f"{name}：只有一个类别（{data.classes[0]}）；分类器至少需要两个")
    return data
