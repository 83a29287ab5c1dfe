"""A small hand-labelled set for the groundedness threshold: contexts written for Tailor's tests
(not taken from any eval suite), and answer sentences marked supported (a restatement or
paraphrase of a context sentence) or unsupported (a claim the context does not make: same
topic with new facts, or another topic). tests/evals/test_grounding.py checks the chosen
threshold separates them; docs/EVALUATION.md reports the similarities."""

CASES = [
    {
        "context": [
            "The clinic is open Monday to Friday from 8 am to 6 pm. On Saturdays we open from 9 am to noon. "
            "We are closed on Sundays and public holidays.",
            "New patients should arrive 15 minutes early to fill in the registration form. Please bring a photo ID "
            "and your insurance card.",
        ],
        "supported": [
            "The clinic opens at 9 am on Saturdays and closes at noon.",
            "On weekdays the clinic is open from 8 am until 6 pm.",
            "New patients need to come 15 minutes before their appointment to complete a registration form.",
            "You should bring your insurance card and a photo ID.",
            "The clinic is closed on Sundays.",
        ],
        "unsupported": [
            "Parking is free for patients in the garage behind the building.",
            "The clinic offers walk-in flu shots every Tuesday evening.",
            "Appointments can be booked online through the patient portal.",
            "Children under 12 must be accompanied by a parent.",
            "Our doctors specialise in sports medicine and physiotherapy.",
        ],
    },
    {
        "context": [
            "Iron deficiency anemia happens when the body does not have enough iron to make hemoglobin. Common "
            "symptoms include fatigue, pale skin, shortness of breath and cold hands and feet. Treatment usually "
            "involves iron supplements taken by mouth for several months.",
        ],
        "supported": [
            "Iron deficiency anemia occurs when there is too little iron to produce hemoglobin.",
            "Typical symptoms are tiredness, pale skin and shortness of breath.",
            "It is usually treated with oral iron supplements over a period of months.",
        ],
        "unsupported": [
            "The condition is caused by a mutation in the HFE gene and is inherited.",
            "Vitamin B12 injections are the first-line treatment.",
            "Most patients need a bone marrow transplant.",
            "Migraines are often triggered by bright lights and loud noises.",
        ],
    },
    {
        "context": [
            "Employees may claim travel expenses within 30 days of the trip. Claims must include original receipts. "
            "Meals are reimbursed up to 50 dollars per day; alcohol is never reimbursed.",
            "Revenue for fiscal year 2023 rose 12 percent to 4.2 billion dollars, driven by strong sales in Asia.",
        ],
        "supported": [
            "Travel expense claims have to be submitted within 30 days after the trip.",
            "Original receipts must be attached to every claim.",
            "The daily meal allowance is capped at 50 dollars.",
            "Revenue grew by 12 percent in fiscal 2023 to 4.2 billion dollars.",
        ],
        "unsupported": [
            "Employees can book business class for flights longer than six hours.",
            "The company's operating margin fell to 8 percent.",
            "Managers must approve all claims above 500 dollars in advance.",
            "The board approved a share buyback program of 1 billion dollars.",
            "Sales in Europe declined because of weak demand.",
        ],
    },
]
