"""Prompt data: benchmark and file loaders, procedural sets, prompt templates."""

from vigor.data.benchmark_registry import Benchmark, register_benchmark
from vigor.data.formats import DataFormat
from vigor.data.loading import (BENCHMARKS, CODE_BENCHMARKS, SHIPPED, benchmark_file, load_records,
                                load_records_and_format)
from vigor.data.procedural import reasoning_gym_records
from vigor.data.records import DataError, PromptRecord, read_rows
from vigor.data.templates import SYSTEM_PROMPTS, format_prompt

__all__ = ["BENCHMARKS", "Benchmark", "CODE_BENCHMARKS", "SHIPPED", "DataError", "DataFormat", "PromptRecord",
           "SYSTEM_PROMPTS", "benchmark_file", "format_prompt", "load_records", "load_records_and_format", "read_rows",
           "reasoning_gym_records", "register_benchmark"]
