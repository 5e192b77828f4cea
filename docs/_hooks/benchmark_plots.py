"""MkDocs hook: publish the benchmark plots straight from ``benchmarks/results/``.

``python -m benchmarks.run`` rewrites ``benchmarks/results/*.png`` and
``results/latest.md``; the benchmarks page includes that Markdown (whose image link is
``results/sweep-latest.png``) and this hook serves the plots at
``explanation/results/``, so the site never shows a stale copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def on_files(files: Files, config: Any) -> Files:
    for plot in sorted(RESULTS.glob("*.png")):
        files.append(
            File.generated(config, f"explanation/results/{plot.name}", abs_src_path=str(plot))
        )
    return files
