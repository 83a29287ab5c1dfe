"""Tailor's evals: suites of questions with reference answers, run against the assistant's
variants (extract, base, base+rag, tuned, tuned+rag, and another build's), on a
dev or test split, scored per question and
reported with 95% bootstrap intervals and paired comparisons.

    from evals import run_eval, print_report
    report = run_eval("clinic", cfg, variants="base+rag,tuned+rag", limit=50)
    print_report(report)                 # metric x variant table, significant differences
    report.value("f1", "tuned+rag")      # numbers; files in report.dir

The metric functions are public so a suite author can check how an answer would score.
Helpers live in _-prefixed modules; docs/EVALUATION.md describes the method.
"""
from evals._aggregate import HEADLINE_METRICS, METRICS, Comparison, MetricDef, holm, primary_score
from evals._ground import GROUNDED_THRESHOLD, Grounder, claim_sentences
from evals._judge import Judge
from evals._leakage import NGRAM as LEAKAGE_NGRAM
from evals._leakage import QUESTION_SIMILARITY as LEAKAGE_QUESTION_SIMILARITY
from evals._leakage import EvalTexts, LeakChecker, leaked_in_build, read_eval_texts
from evals._metrics import (
    Number,
    choice_correct,
    citation_markers,
    citation_scores,
    exact_match,
    normalize_answer,
    numbers_match,
    parse_choice,
    parse_number,
    parse_numbers,
    parse_yes_no,
    retrieval_scores,
    rouge_l,
    text_declines,
    token_f1,
)
from evals._report import chart_images, print_report
from evals._runner import (
    batch_size,
    ALL_VARIANTS,
    EvalReport,
    Gate,
    check_gates,
    latest_report_dir,
    parse_gates,
    parse_variants,
    check_suite,
    read_results,
    run_eval,
)
from evals._score import score_answer
from evals.config import EvalsConfig, PrivacyConfig
from evals._stats import Difference, Estimate, Stat, estimate, paired_difference
from evals._suite import ANSWER_TYPES, SPLITS, EvalItem, is_bare_number, load_suite, sample_items, split_items, suite_files, suite_suggestions

__all__ = [
    "ALL_VARIANTS", "ANSWER_TYPES", "GROUNDED_THRESHOLD", "METRICS", "EvalsConfig", "PrivacyConfig",
    "EvalItem", "EvalReport", "Comparison", "Difference", "Estimate", "Gate", "Grounder", "Judge", "MetricDef", "Number", "Stat",
    "load_suite", "sample_items", "run_eval", "print_report", "score_answer", "read_results", "latest_report_dir",
    "parse_gates", "check_gates", "parse_variants", "estimate", "paired_difference", "claim_sentences",
    "exact_match", "token_f1", "rouge_l", "normalize_answer", "parse_yes_no", "parse_number", "parse_numbers",
    "numbers_match", "parse_choice", "choice_correct", "text_declines", "retrieval_scores", "citation_markers",
    "citation_scores", "primary_score", "chart_images",
    "HEADLINE_METRICS", "SPLITS", "holm", "is_bare_number", "split_items", "suite_suggestions", "check_suite",
    "batch_size", "suite_files", "LEAKAGE_NGRAM", "LEAKAGE_QUESTION_SIMILARITY", "EvalTexts", "LeakChecker", "leaked_in_build", "read_eval_texts",
]  # fmt: skip

# Human evaluation (votes, preference pairs, the leaderboard) and the app's view of reports.
from evals._reportview import FALLBACK_SECONDS_PER_ANSWER, eval_estimate, eval_questions, newest_report_dir, report_summary, report_view, seconds_per_answer
from evals._votes import (
    MAX_ANSWER_CHARS, MAX_VOTE_VARIANTS, MIN_GAMES_FOR_INTERVAL, NO_WINNER, check_corrected, example_questions, fit_bradley_terry,
    leaderboard, pair_tally, preference_pairs, read_votes, record_vote, redact, undo_vote, vote_outcomes, vote_preview,
)  # fmt: skip

__all__ += [
    "FALLBACK_SECONDS_PER_ANSWER", "eval_estimate", "eval_questions", "newest_report_dir", "report_summary", "report_view",
    "seconds_per_answer", "MAX_ANSWER_CHARS", "MAX_VOTE_VARIANTS", "MIN_GAMES_FOR_INTERVAL", "NO_WINNER", "check_corrected",
    "example_questions", "fit_bradley_terry", "leaderboard", "pair_tally", "preference_pairs", "read_votes", "record_vote",
    "redact", "undo_vote", "vote_outcomes", "vote_preview",
]  # fmt: skip
