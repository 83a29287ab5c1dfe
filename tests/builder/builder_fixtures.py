"""The small assistant folder the builder tests build (documents, conversations, preferences)."""
import json
from pathlib import Path

DOCS = {
    "hours.md": "# Opening hours\n\nHarbor Clinic is open Monday to Friday from 8:00 to 18:00. "
    "On Saturday we open at 9:00 and close at 13:00. The clinic is closed on Sundays and public holidays.\n",
    "fees.md": "# Fees and insurance\n\nA standard consultation costs 60 euros. Most private insurance plans are accepted. "
    "Bring your insurance card to every visit. You can pay by card or cash at the front desk.\n",
    "parking.md": "# Parking\n\nFree parking is available behind the building. Two spaces are reserved for wheelchair users. "
    "Bus lines 4 and 12 stop at the clinic door.\n",
    "vaccines.md": "# Vaccinations\n\nWe give flu shots every autumn. Travel vaccines need an appointment two weeks before departure. "
    "Children's vaccines follow the national schedule.\n",
}

QA = [
    ("When are you open on weekdays?", "Harbor Clinic is open Monday to Friday from 8:00 to 18:00."),
    ("Are you open on Saturday?", "On Saturday we open at 9:00 and close at 13:00."),
    ("Can I come on Sunday?", "The clinic is closed on Sundays and public holidays."),
    ("How much is a consultation?", "A standard consultation costs 60 euros."),
    ("Do you take private insurance?", "Most private insurance plans are accepted. Bring your insurance card to every visit."),
    ("How can I pay?", "You can pay by card or cash at the front desk."),
    ("Is there parking?", "Free parking is available behind the building."),
    ("Is there disabled parking?", "Two spaces are reserved for wheelchair users."),
    ("Which buses stop near you?", "Bus lines 4 and 12 stop at the clinic door."),
    ("When do you give flu shots?", "We give flu shots every autumn."),
    ("I need travel vaccines, when should I book?", "Travel vaccines need an appointment two weeks before departure."),
    ("Do you vaccinate children?", "Children's vaccines follow the national schedule."),
]

PREFS = [
    ("How much is a consultation?", "A standard consultation costs 60 euros.", "A consultation is free of charge."),
    ("Are you open on Saturday?", "On Saturday we open at 9:00 and close at 13:00.", "We are closed all weekend."),
    ("Is there parking?", "Free parking is available behind the building.", "There is no parking near the clinic."),
    ("When do you give flu shots?", "We give flu shots every autumn.", "Flu shots are given only in spring."),
    ("How can I pay?", "You can pay by card or cash at the front desk.", "We only accept bank transfers."),
    ("Which buses stop near you?", "Bus lines 4 and 12 stop at the clinic door.", "No buses come to the clinic."),
]

TINY_YAML = """\
name: Harbor Clinic
knowledge:
  chunk_size: 64
  chunk_overlap: 8
  top_k: 2
builder:
  base_model: {model}
  eval_split: 0.2
  min_conversations: 4
  lora_r: 4
  lora_alpha: 8
  eval_max_new_tokens: 8
  sft:
    epochs: 1
    max_length: 512
    batch_size: 2
    learning_rate: 0.005
    checkpoint_steps: 1
  dpo:
    max_length: 512
    batch_size: 2
    learning_rate: 0.005
    max_auto_pairs: 2
    eval_pairs: 2
"""


def write_jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def make_folder(folder: Path, model: str, conversations: bool = True, preferences: bool = True) -> Path:
    docs = folder / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    (folder / "assistant.yaml").write_text(TINY_YAML.format(model=model), encoding="utf-8")
    if conversations:
        rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}], "source": "test"} for q, a in QA]
        write_jsonl(folder / "data" / "conversations.jsonl", rows)
    if preferences:
        write_jsonl(folder / "data" / "preferences.jsonl", [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in PREFS])
    return folder
