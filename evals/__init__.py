"""Tailor's evals: suites of questions with reference answers, run against the assistant's
variants (extract, base, base+rag, tuned, tuned+rag, and another build's), on a
dev or test split, scored per question and
reported with 95% bootstrap intervals and paired comparisons; and the app's human votes,
ranked on a Bradley-Terry leaderboard.

    from evals import run_eval, print_report
    report = run_eval("clinic", cfg.evals, cfg.serving(), variants="base+rag,tuned+rag", limit=50)
    print_report(report)                 # metric x variant table, significant differences
    report.value("f1", "tuned+rag")      # numbers; files in report.dir

The answer metrics are public so a suite author can check how an answer would score.
This file is the API other packages and users call; helpers live in _-prefixed modules, and
docs/EVALUATION.md describes the method.
"""
from evals._leakage import NGRAM as LEAKAGE_NGRAM
from evals._leakage import QUESTION_SIMILARITY as LEAKAGE_QUESTION_SIMILARITY
from evals._leakage import LeakChecker, read_eval_texts
from evals._metrics import exact_match, normalize_answer, numbers_match, parse_number, parse_numbers, rouge_l, text_declines, token_f1
from evals._report import chart_images, print_report
from evals._reportview import eval_estimate, eval_questions, newest_report_dir, report_view
from evals._runner import EvalReport, batch_size, check_suite, run_eval
from evals._score import score_answer
from evals._suite import EvalItem, load_suite, sample_items, split_items, suite_files
from evals._votes import (
    MIN_GAMES_FOR_INTERVAL,
    NO_WINNER,
    check_corrected,
    example_questions,
    leaderboard,
    pair_tally,
    read_votes,
    record_vote,
    redact,
    undo_vote,
    vote_preview,
)
from evals.config import EvalsConfig, PrivacyConfig

__all__ = [
    # running and reporting an eval
    "run_eval", "print_report", "chart_images", "EvalReport", "EvalsConfig", "batch_size",
    "load_suite", "check_suite", "suite_files", "sample_items", "split_items", "EvalItem",
    # the Eval tab
    "newest_report_dir", "report_view", "eval_questions", "eval_estimate",
    # answer metrics, for suite authors and the build's held-out F1
    "score_answer", "exact_match", "token_f1", "rouge_l", "normalize_answer", "numbers_match", "parse_number",
    "parse_numbers", "text_declines",
    # keeping eval questions out of training
    "read_eval_texts", "LeakChecker", "LEAKAGE_NGRAM", "LEAKAGE_QUESTION_SIMILARITY",
    # human votes and the leaderboard
    "PrivacyConfig", "record_vote", "undo_vote", "vote_preview", "check_corrected", "read_votes", "redact",
    "leaderboard", "pair_tally", "example_questions", "MIN_GAMES_FOR_INTERVAL", "NO_WINNER",
]  # fmt: skip
