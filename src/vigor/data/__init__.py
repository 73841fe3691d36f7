"""Prompt data: benchmark and file loaders, procedural sets, prompt templates."""

from vigor.data.loading import BENCHMARKS, CODE_BENCHMARKS, SHIPPED, benchmark_file, load_records
from vigor.data.procedural import reasoning_gym_records
from vigor.data.records import DataError, PromptRecord, read_rows
from vigor.data.templates import SYSTEM_PROMPTS, format_prompt

__all__ = ["BENCHMARKS", "CODE_BENCHMARKS", "SHIPPED", "DataError", "PromptRecord", "SYSTEM_PROMPTS",
           "benchmark_file", "format_prompt", "load_records", "read_rows", "reasoning_gym_records"]
