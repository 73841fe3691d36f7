"""Answer extraction lives in `vigor.data.answers` (a leaf module, so the data loaders can normalise gold
answers without importing the evaluation layer); this module keeps the old import path working."""

from vigor.data.answers import (STYLES, after_hashes, clean_number, extract_answer, last_boxed, last_number,
                                normalise_gold)

__all__ = ["STYLES", "after_hashes", "clean_number", "extract_answer", "last_boxed", "last_number", "normalise_gold"]
