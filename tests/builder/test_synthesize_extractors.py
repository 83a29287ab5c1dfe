"""The extractors on small documents shaped like the real ones: a 10-K table and a 10-K statement
flattened by PDF extraction, a MedQuAD page, a Word file with headings, a PDF with a price list."""
from pathlib import Path

import pytest

from builder._extractors import (
    doc_subject,
    extract_definitions,
    extract_faq,
    extract_facts,
    extract_lists,
    extract_sections,
    extract_statements,
    extract_tables,
    prose,
)
from builder._synthesize import well_formed
from knowledge import load_document


def doc(tmp_path: Path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_document(path, name)


TEN_K_MD = """# PepsiCo - 10K 2023

Company: PepsiCo. Sector: Consumer Staples.

## Consolidated Statement of Income

(in millions except per share amounts)

| | 2023 | 2022 | 2021 |
|---|---|---|---|
| Net revenue | $ 91,471 | $ 86,392 | $ 79,474 |
| Cost of sales | 41,881 | 40,576 | 37,075 |
| Operating profit | 11,986 | 11,512 | 11,162 |
"""

FLATTENED_10K = """# Walmart - 10K 2019

Document: WALMART_2019_10K. Company: Walmart.

## Page 55

Walmart Inc. Consolidated Statements of Income Fiscal Years Ended January 31, (Amounts in millions, except per share data) 2019 2018 2017 Revenues: Net sales $ 510,329 $ 495,761 $ 481,317 Membership and other income 4,076 4,582 4,556 Total revenues 514,405 500,343 485,873 Costs and expenses: Cost of sales 385,301 373,396 361,256 Operating income 21,957 20,437 22,764 See accompanying notes.
"""

MEDQUAD_MD = """# Small Intestine Cancer

Source: CancerGov (NIH), via the MedQuAD collection.

## What is (are) Small Intestine Cancer ?

Key Points
- Small intestine cancer is a rare disease in which malignant (cancer) cells form in the tissues of the small intestine.
- Diet and health history can affect the risk of developing small intestine cancer.

Small intestine cancer is a rare disease in which malignant (cancer) cells form in the tissues of the small intestine.
The small intestine is part of the body's digestive system, which also includes the esophagus, stomach, and large intestine.

## Who is at risk

Diet and health history can affect the risk of developing small intestine cancer. Anything that increases your risk of getting a disease is called a risk factor. Risk factors for small intestine cancer include the following:
- Eating a high-fat diet.
- Having Crohn disease.
- Having celiac disease.

## Symptoms

Signs and symptoms of small intestine cancer include unexplained weight loss and abdominal pain. These and other signs and symptoms may be caused by small intestine cancer or by other conditions.
"""


def test_ten_k_table_cells_name_company_row_period_and_unit(tmp_path):
    examples = extract_tables(doc(tmp_path, "pepsico.md", TEN_K_MD))
    by_q = {e.question: e for e in examples}
    ex = by_q["What was PepsiCo's net revenue in 2023?"]
    assert ex.answer == "PepsiCo's net revenue in 2023 was $91,471 million."
    assert ex.answer_type == "number"
    assert "PepsiCo's net revenue in 2023 was $86,392 million." in ex.wrong  # another period's figure
    assert by_q["What was PepsiCo's cost of sales in 2022?"].answer == "PepsiCo's cost of sales in 2022 was $40,576 million."
    trend = [e for e in examples if e.answer_type == "yes_no"]
    assert trend and all(e.answer.startswith(("Yes. ", "No. ")) for e in trend)
    rising = next(e for e in trend if "net revenue increase" in e.question)
    assert rising.question == "Did PepsiCo's net revenue increase from 2022 to 2023?" and rising.answer.startswith("Yes.")
    assert all(well_formed(e) for e in examples)


def test_flattened_statement_line_items_by_period(tmp_path):
    d = doc(tmp_path, "WALMART_2019_10K.md", FLATTENED_10K)
    assert doc_subject(d).name == "Walmart" and doc_subject(d).company
    by_q = {e.question: e for e in extract_statements(d)}
    assert by_q["What were Walmart's net sales in 2019?"].answer == "Walmart's net sales in 2019 were $510,329 million."
    assert by_q["What was Walmart's operating income in 2019?"].answer == "Walmart's operating income in 2019 was $21,957 million."
    assert "Walmart's operating income in 2019 was $20,437 million." in by_q["What was Walmart's operating income in 2019?"].wrong
    assert not any("Revenues" in q or "Costs and expenses" in q for q in by_q)  # group labels with no figures of their own


def test_medquad_page_question_headings_answered_without_key_points(tmp_path):
    d = doc(tmp_path, "small-intestine-cancer.md", MEDQUAD_MD)
    faq = {e.question: e.answer for e in extract_faq(d)}
    answer = faq["What is (are) Small Intestine Cancer ?"]
    assert answer.startswith("Small intestine cancer is a rare disease") and "Key Points" not in answer and "- " not in answer
    assert answer.count("Small intestine cancer is a rare disease") == 1  # the key point said again is not repeated
    sections = {e.question: e.answer for e in extract_sections(d)}
    assert sections["Who is at risk for Small Intestine Cancer?"].startswith("Diet and health history can affect the risk")
    assert "include the following" not in sections["Who is at risk for Small Intestine Cancer?"]
    assert sections["What are the symptoms of Small Intestine Cancer?"].startswith("Signs and symptoms of small intestine cancer include unexplained weight loss")


def test_list_under_a_lead_in_becomes_one_sentence(tmp_path):
    lists = extract_lists(doc(tmp_path, "small-intestine-cancer.md", MEDQUAD_MD))
    answer = "Risk factors for small intestine cancer include eating a high-fat diet, having Crohn disease, and having celiac disease."
    assert [(e.question, e.answer, e.answer_type) for e in lists] == [
        ("What are the risk factors for small intestine cancer?", answer, "free"),
        ("Is having Crohn disease one of the risk factors for small intestine cancer?", f"Yes. {answer}", "yes_no"),
    ]  # only 'yes': a list does not say what it leaves out
    assert lists[1].wrong == ["No. The risk factors for small intestine cancer do not include having Crohn disease."]


def test_word_file_with_headings(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_heading("Northgate Credit Union savings", level=1)
    d.add_heading("Youth savings", level=2)
    d.add_paragraph("Youth savings is an account for members under 18 that pays dividends monthly.")
    d.add_heading("Fees", level=3)
    d.add_paragraph("There is no monthly fee, and the first two withdrawals each month are free of charge.")
    d.add_heading("How do I close an account?", level=2)
    d.add_paragraph("Visit any branch with photo ID, or send a signed letter to the member service center.")
    table = d.add_table(rows=3, cols=2)
    for row, (k, v) in zip(table.rows, [("Account", "Minimum balance"), ("Youth savings", "$5"), ("Holiday club", "$10")]):
        row.cells[0].text, row.cells[1].text = k, v
    d.save(tmp_path / "savings.docx")
    loaded = load_document(tmp_path / "savings.docx", "savings.docx")
    sections = {e.question: e.answer for e in extract_sections(loaded)}
    assert sections["What are the fees for Youth savings?"].startswith("There is no monthly fee")  # a level-3 heading under its entity
    assert sections["What is youth savings?"].startswith("Youth savings is an account for members under 18")
    faq = {e.question: e.answer for e in extract_faq(loaded)}
    assert faq["How do I close an account?"].startswith("Visit any branch with photo ID")
    tables = {e.question: e.answer for e in extract_tables(loaded)}
    assert tables["What is the minimum balance for holiday club?"] == "The minimum balance for holiday club is $10."


def test_pdf_headings_and_price_list(tmp_path):
    pytest.importorskip("reportlab")
    from reportlab.lib.pagesizes import letter
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(tmp_path / "fees.pdf"), pagesize=letter)
    c.setTitle("Fees and insurance")
    y = 740
    for line in [
        "Fees and insurance",
        "Self-pay prices",
        "If you do not have insurance, these are our prices for the visits we offer at the clinic.",
        "Service", "Self-pay price", "Standard visit (20 minutes)", "$125", "Video visit", "$95", "Phone visit", "$60",
    ]:
        c.drawString(72, y, line)
        y -= 18
    c.save()
    d = load_document(tmp_path / "fees.pdf", "fees.pdf")
    tables = {e.question: e for e in extract_tables(d)}
    assert tables["What is the self-pay price for video visit?"].answer == "The self-pay price for video visit is $95."
    assert tables["What is the self-pay price for video visit?"].wrong  # another row's price, said of this one


def test_fact_sentences_ask_about_their_subject(tmp_path):
    text = "# Billing\n\nThe minimum monthly payment is $50. Sports physicals are $55 and are not billed to insurance. The fee is $40.\n"
    facts = extract_facts(doc(tmp_path, "billing.md", text))
    questions = {e.question: e.answer for e in facts if e.answer_type != "yes_no"}
    assert questions["What is the minimum monthly payment?"] == "The minimum monthly payment is $50."
    assert questions["How much are sports physicals?"] == "Sports physicals are $55 and are not billed to insurance."
    assert not any("the fee?" in q.lower() for q in questions)  # 'The fee is $40': which fee? not asked
    yes_no = [e for e in facts if e.answer_type == "yes_no"]
    assert yes_no and all(e.answer.startswith(("Yes. ", "No. ")) and e.wrong for e in yes_no)


def test_a_figure_that_qualifies_another_word_is_not_asked_as_the_value(tmp_path):
    text = ("# Hearing Loss\n\nNoise-induced hearing loss is 100 percent preventable. The yearly hearing screening is $35 per "
            "visit. Adult hearing loss is 20 percent more likely after age 65. Online booking for hearing tests opens 60 days ahead.\n")
    asked = {e.question: e.answer for e in extract_facts(doc(tmp_path, "hearing.md", text)) if e.answer_type != "yes_no"}
    assert not any("noise-induced" in q.lower() or "adult hearing loss" in q.lower() for q in asked)  # no value of theirs
    assert any("screening" in q.lower() and a.endswith("$35 per visit.") for q, a in asked.items())
    assert any("online booking" in q.lower() and "60 days ahead" in a for q, a in asked.items())


def test_a_defined_term_keeps_only_a_next_sentence_about_it(tmp_path):
    text = ("# Bronchitis\n\nMucus is a slimy substance made by the lining of the bronchial tubes. It traps germs and dust.\n\n"
            "# Results\n\nPulse variability is a marker often left out of risk studies in adults. This study aimed to measure "
            "its prevalence in three clinics.\n\n# Airways\n\nThe trachea is a tube that carries air to the lungs. This tube sits in "
            "front of the esophagus.\n")
    defined = {e.question: e.answer for e in extract_definitions(doc(tmp_path, "bronchitis.md", text))}
    assert defined["What is mucus?"].endswith("It traps germs and dust.")
    assert "This study" not in defined["What is pulse variability?"]
    assert defined["What is the trachea?"].endswith("This tube sits in front of the esophagus.")  # a noun it named


def test_a_table_under_a_heading_of_attributes_belongs_to_the_page(tmp_path):
    text = ("# Wire Transfers\n\nWires move money between banks.\n\n## Fees, limits and cut-off times\n\n"
            "| Item | Detail |\n|---|---|\n| Incoming domestic wire | $10 |\n| Outgoing international wire | $45 |\n"
            "| Online domestic limit | $25,000 per business day |\n| Domestic cut-off time | 3:00 p.m. Central Time |\n")
    asked = {e.question: e.answer for e in extract_tables(doc(tmp_path, "wires.md", text))}
    assert not any("Fees, limits" in q for q in asked)  # the heading lists what the table holds, it names nothing
    assert asked["What is the fee for incoming domestic wire?"] == "The fee for incoming domestic wire is $10."
    assert asked["What is the online domestic limit for Wire Transfers?"].endswith("is $25,000 per business day.")


def test_a_web_page_title_names_the_page_not_the_site(tmp_path):
    page = ("<html><head><title>Bracken Online and Bracken Mobile: Help | Brackenfield Community Credit Union</title></head>"
            "<body><h1>Online banking</h1><p>Bracken Online is our internet banking website.</p></body></html>")
    assert doc_subject(doc(tmp_path, "online.html", page)).name == "Bracken Online and Bracken Mobile"
    report = "<html><head><title>Annual report extract: PepsiCo net revenue</title></head><body><p>Text here.</p></body></html>"
    assert doc_subject(doc(tmp_path, "report.html", report)).name == "PepsiCo net revenue"


def test_prose_drops_headings_key_points_and_list_debris():
    body = "Key Points\n- A point.\n\n## Sub\n\nReal sentence one here. Causes include: - smoking - age\nAnother real sentence follows.\n"
    assert prose(body) == ["Real sentence one here.", "Another real sentence follows."]
