"""Translators: CoT -> program (PoT) for math, code -> explanation for code tasks, behind one interface.

- :class:`OfflineCalculatorTranslator`: GSM8K-style ``<<expr=value>>`` annotations -> a program (no model)
- :class:`OpenAICompatibleTranslator`: any OpenAI-compatible chat/completions server (vLLM, llama.cpp, SGLang)
- :class:`CachedTranslator`: an on-disk cache keyed by (model, template, text) in front of any translator
- :class:`FileTranslator`: translations made elsewhere, read from a JSONL file
"""
from .base import Request, Translator
from .cache import CachedTranslator
from .file import FileTranslator
from .offline import OfflineCalculatorTranslator, calculator_program
from .openai_client import OpenAICompatibleTranslator, TEMPLATES, TranslationServerError

__all__ = ["Request", "Translator", "CachedTranslator", "FileTranslator", "OfflineCalculatorTranslator",
           "calculator_program", "OpenAICompatibleTranslator", "TEMPLATES", "TranslationServerError"]
