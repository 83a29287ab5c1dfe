"""The coverage check: questions naming something no document mentions are declined before any
model runs; paraphrases, plurals, case and typos of what the documents hold are not. Unit tests
use the fake knowledge base's chunks (the small clinic corpus); the word-piece rules and the
CLI run on the real index of the same corpus."""
from types import SimpleNamespace

from typer.testing import CliRunner

import app
from chat import Assistant, GenerationConfig
from chat._coverage import CoverageCheck, build_vocabulary, distinctive_terms
from knowledge import Chunk

from chat_fixtures import FakeKB


def terms(question, wordpiece=None):
    return [(t.text, t.kind) for t in distinctive_terms(question, wordpiece)]


def test_distinctive_terms_are_names_codes_and_years_not_grammar():
    assert terms("Do you give Ebola vaccines in 2024?") == [("Ebola", "name"), ("2024", "year")]
    assert terms("What was JnJ's FY2022 revenue for American Water Works?") == [
        ("JnJ", "name"), ("FY2022", "code"), ("American Water Works", "name")]
    # The first word of a sentence, calendar words and single letters say nothing.
    assert terms("Parking: is it free on Saturday? Thanks. P&L please") == []
    # A question in Title Case: capitals say nothing, only the code counts.
    assert terms("What Are The Opening Hours Of The Clinic In FY2024?") == [("FY2024", "code")]


def test_contractions_and_spoken_words_are_grammar_not_names():
    # tokens() writes "I'm" as "Im" and "you've" as "youve": capitalised or not, they name nothing.
    assert terms("If I'm 20 minutes late, will you still see me?") == []
    assert terms("Can I find out who you've shared my records with? OK, and what's next?") == []
    assert terms("OK. Do you give Ebola vaccines?") == [("Ebola", "name")]
    # A title's full stop does not start a sentence: the name after it is a name, the title grammar.
    assert terms("Is Dr. Whitfield taking new patients this month?") == [("Whitfield", "name")]


def test_a_word_written_with_a_hyphen_in_the_documents_is_covered_written_as_one():
    kb = SimpleNamespace(chunks=[Chunk(id="a", text="Most medicines need a check-up once a year.", source="refills.md")], embedder=None)
    check = CoverageCheck(kb)
    assert check.vocabulary.has("checkup") and check.vocabulary.has("check")
    assert not check.missing("Will I be in the room for her whole checkup?")


def test_a_name_no_document_holds_declines_and_says_which(fake_kb):
    check = CoverageCheck(fake_kb)
    assert check.reason("Do you give Ebola vaccines?") == "coverage: 'Ebola' is not in the documents"
    assert check.reason("Do you accept Medicaid or Blue Shield?") == "coverage: 'Medicaid', 'Blue Shield' are not in the documents"
    # Each word is in the documents ("yellow", "portal") but never together: not a name they hold.
    assert check.reason("Can I book through the Yellow Portal?") is not None


def test_what_the_documents_hold_passes_in_any_case_or_number(fake_kb):
    check = CoverageCheck(fake_kb)
    for question in (
        "Do you give Yellow Fever vaccines?",          # case
        "Do you take Private Insurance Plan cards?",   # singular of "plans"
        "What are your hours?",                        # common words only: a paraphrase, not a gap
        "When are you open on Saturdays?",
        "Can I book via the Patient Portal?",
        "Where do the buses for wheelchair users stop?",
    ):
        assert check.reason(question) is None, question


def test_codes_and_years_decline_only_when_nothing_else_anchors_the_question(fake_kb):
    check = CoverageCheck(fake_kb)
    hits = fake_kb.search("wheelchair parking", k=5)
    assert check.reason("How much does the XRT200 cost in 2031?", hits) is not None
    # "Patient Portal" is in the evidence: the question is about the documents, XRT200 an aside.
    assert check.reason("Can XRT200 badge holders use the Patient Portal?", hits) is None


def test_a_word_rare_in_a_large_corpus_anchors_a_rare_word_it_lacks():
    filler = [Chunk(id=f"c{i}", text=f"The clinic answers question {i} about visits.", source=f"d{i}.md") for i in range(99)]
    kb = SimpleNamespace(chunks=[*filler, Chunk(id="p", text="Pneumonia is diagnosed by chest imaging.", source="p.md")])
    check = CoverageCheck(kb)
    check.wordpiece = {w: i for i, w in enumerate("does delay treatment infection clinic diagnosis visits imaging chest".split())}
    evidence = [SimpleNamespace(chunk=kb.chunks[-1])]
    # "nosocomial" is rare in English and absent, but "pneumonia" (1 chunk of 100) is in the evidence.
    assert check.reason("Does nosocomial pneumonia delay treatment?", evidence) is None
    assert check.reason("Does nosocomial infection delay treatment?", evidence) == "coverage: 'nosocomial' is not in the documents"


def test_typos_compounds_and_plurals_of_document_words_are_covered(real_kb):
    check = CoverageCheck(real_kb)
    assert check.wordpiece, "the real embedder's word pieces mark rare words"
    assert check.reason("Do you give Typhiod vaccines?") is None           # two letters swapped
    assert check.reason("Are there spaces for wheelchiar users?") is None    # a typo in a rare word
    assert check.reason("Do you give typhoid vaccinations?") is None
    assert check.reason("Do you give Ebola vaccinations?") is not None
    vocab = build_vocabulary(real_kb.chunks)
    assert vocab.has("vaccin") and vocab.n_chunks == len(real_kb.chunks)


def test_assistant_declines_on_coverage_after_passing_the_similarity_check(tiny_model_dir, fake_kb):
    assistant = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, threshold=0.35, generation=GenerationConfig(max_new_tokens=4))
    answer = assistant.answer("Do you give Ebola vaccines?")  # the fake scores hours.md 0.8: similarity passes
    assert answer.declined and answer.max_similarity == 0.8
    assert answer.decline_reason == "coverage: 'Ebola' is not in the documents"
    assert "I can help with questions about" in answer.text and answer.sources == []
    assert answer.to_dict()["decline_reason"] == answer.decline_reason
    low = Assistant(name="T", base_model=tiny_model_dir, kb=FakeKB({"fees.md": 0.1}), threshold=0.35)
    assert low.answer("Who won the 1998 World Cup?").decline_reason == "similarity"
    assert not assistant.answer("When are you open on Saturday?").declined
    # A build whose calibration switched the check off answers (and only similarity declines).
    off = Assistant(name="T", base_model=tiny_model_dir, kb=fake_kb, threshold=0.35, coverage=False,
                    generation=GenerationConfig(max_new_tokens=4))
    assert not off.answer("Do you give Ebola vaccines?").declined


def test_tailor_ask_declines_an_in_domain_question_the_documents_do_not_cover(built_folder):
    result = CliRunner().invoke(app.cli, ["ask", str(built_folder), "Do you give Ebola vaccines before travel?", "--variant", "base+rag"])
    assert result.exit_code == 0, result.output
    assert "can't find that in my documents" in result.stdout and "Vaccinations" in result.stdout
    assert "declined: 'Ebola' is not in the documents" in result.stdout
    result = CliRunner().invoke(app.cli, ["ask", str(built_folder), "Do you give yellow fever vaccines before travel?", "--json"])
    assert result.exit_code == 0 and '"declined": false' in result.stdout
