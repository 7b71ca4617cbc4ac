"""What the demo account holds, as fixed data: its agents, its contacts, and the topics
customers write in about, each a short exchange as a support team would have it.

Plain data only, no I/O: `demo` writes the account from it, `livedesk simulate` plays new
conversations from the same topics. Names, e-mails (on example domains) and phone numbers
(in ranges kept for fiction) are made up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class Agent:
    key: str
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    phone: str
    attributes: dict[str, str | int | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Topic:
    """One reason to write in: the customer's opening, the agent's first answer, the
    customer's follow-up, a colleague's private note, the agent's next step, the thanks."""

    opening: str
    reply: str
    follow_up: str
    note: str
    next_step: str
    thanks: str


ACCOUNT: Final = "Demo Support"
INBOX: Final = "Website chat"

ADMIN: Final = Agent("ada", "admin@example.com", "Ada Brennan", "admin")
ALICE: Final = Agent("alice", "alice@example.com", "Alice Moreau", "agent")
BOB: Final = Agent("bob", "bob@example.com", "Bob Okafor", "agent")
CARMEN: Final = Agent("carmen", "carmen@example.com", "Carmen Díaz", "agent")
AGENTS: Final = (ADMIN, ALICE, BOB, CARMEN)

CONTACTS: Final = (
    Person("Jane Cooper", "jane.cooper@example.org", "+1 202 555 0143",
           {"plan": "Pro", "company": "Northwind Traders", "country": "US", "seats": 12}),
    Person("Liam O'Brien", "liam@example.net", "+353 1 555 0178",
           {"plan": "Starter", "country": "IE"}),
    Person("Sofia Rossi", "sofia.rossi@example.com", "+39 06 555 0199",
           {"plan": "Business", "company": "Trattoria Digitale", "country": "IT", "vip": True}),
    Person("Noah Kim", "noah.kim@example.org", "+1 415 555 0112",
           {"plan": "Pro", "company": "Kim & Park LLC", "country": "US"}),
    Person("Emma Schmidt", "emma.schmidt@example.de", "+49 30 555 0165",
           {"plan": "Business", "company": "Schmidt Logistik", "country": "DE", "seats": 40}),
    Person("Lucas Martin", "lucas.martin@example.fr", "+33 1 55 50 01 23",
           {"plan": "Starter", "country": "FR"}),
    Person("Aisha Bello", "aisha.bello@example.com", "+234 1 555 0147",
           {"plan": "Pro", "company": "Lagos Fresh", "country": "NG"}),
    Person("Hiroshi Tanaka", "h.tanaka@example.jp", "+81 3 5550 0134",
           {"plan": "Enterprise", "company": "Tanaka Robotics", "country": "JP", "vip": True}),
    Person("Olivia Brown", "olivia.brown@example.co.uk", "+44 20 7946 0958",
           {"plan": "Pro", "country": "GB"}),
    Person("Mateo García", "mateo.garcia@example.es", "+34 91 555 0186",
           {"plan": "Starter", "company": "Café Sol", "country": "ES"}),
    Person("Chloé Dubois", "chloe.dubois@example.fr", "+33 4 55 50 01 77",
           {"plan": "Business", "company": "Atelier Dubois", "country": "FR"}),
    Person("Ethan Wright", "ethan.wright@example.com", "+1 312 555 0190",
           {"plan": "Pro", "company": "Wright Builders", "country": "US", "seats": 8}),
    Person("Priya Sharma", "priya.sharma@example.in", "+91 22 5550 0121",
           {"plan": "Enterprise", "company": "Sharma Textiles", "country": "IN", "seats": 120}),
    Person("Lars Nielsen", "lars.nielsen@example.dk", "+45 32 55 50 14",
           {"plan": "Starter", "country": "DK"}),
    Person("Grace Lee", "grace.lee@example.org", "+1 646 555 0108",
           {"plan": "Pro", "company": "Lee Studio", "country": "US"}),
    Person("Tomás Silva", "tomas.silva@example.pt", "+351 21 555 0139",
           {"plan": "Business", "company": "Silva & Filhos", "country": "PT"}),
    Person("Zoe Müller", "zoe.mueller@example.ch", "+41 44 555 01 62",
           {"plan": "Pro", "country": "CH"}),
    Person("Daniel Cohen", "daniel.cohen@example.com", "+972 3 555 0157",
           {"plan": "Starter", "company": "Cohen Analytics", "country": "IL"}),
    Person("Amara Okafor", "amara.okafor@example.com", "+234 9 555 0183",
           {"plan": "Business", "country": "NG"}),
    Person("Oliver Smith", "oliver.smith@example.com.au", "+61 2 5550 0117",
           {"plan": "Pro", "company": "Smith Surf Co", "country": "AU"}),
    Person("Yuki Sato", "yuki.sato@example.jp", "+81 6 5550 0192",
           {"plan": "Starter", "country": "JP"}),
    Person("Isabella Costa", "isabella.costa@example.br", "+55 11 5550 0145",
           {"plan": "Pro", "company": "Costa Design", "country": "BR"}),
    Person("Mohammed Haddad", "m.haddad@example.com", "+971 4 555 0163",
           {"plan": "Enterprise", "company": "Haddad Group", "country": "AE", "vip": True}),
    Person("Nora Johansson", "nora.johansson@example.se", "+46 8 555 0129",
           {"plan": "Business", "company": "Fjord Outdoor", "country": "SE", "seats": 25}),
    Person("Samuel Adeyemi", "samuel.adeyemi@example.org", "+44 161 496 0752",
           {"plan": "Starter", "country": "GB"}),
)  # fmt: skip

TOPICS: Final = (
    Topic(
        "Hi! My order #1042 hasn't arrived yet. It was supposed to be here on Monday.",
        "Sorry about the wait! Let me check the tracking for #1042.",
        "Thanks. The tracking page hasn't changed in four days.",
        "Carrier confirms the parcel is stuck at the Leipzig hub; reshipping is cheaper than "
        "waiting.",
        "I've sent a replacement by express, it should arrive within two days. You'll get a "
        "new tracking number by e-mail.",
        "Perfect, thank you for sorting it out so quickly!",
    ),
    Topic(
        "I was charged twice for my subscription this month.",
        "That shouldn't happen. Could you tell me the last four digits of the card?",
        "It ends in 4242. Both charges are from the 3rd.",
        "Duplicate charge confirmed in Stripe, refund of the second one issued.",
        "I've refunded the duplicate charge. It takes 5 to 10 business days to show on your "
        "statement.",
        "Great, appreciate the quick fix.",
    ),
    Topic(
        "How do I add a colleague to our account?",
        "Go to Settings > Team and click 'Invite'. They'll get an e-mail with a link.",
        "Found it, but the invite button is greyed out for me.",
        "Only admins can invite. Their plan allows more seats, so it's just the role.",
        "Your user is an agent; an admin on your account can invite, or make you an admin.",
        "Ah, that explains it. Our admin just did it, thanks!",
    ),
    Topic(
        "The app keeps logging me out every few minutes on Safari.",
        "Sorry about that! Which Safari version are you on, and is it on a Mac or an iPhone?",
        "Safari 17 on a MacBook. Chrome works fine.",
        "Known issue with 'Prevent cross-site tracking' and our old login domain; fix ships "
        "Thursday.",
        "It's a known issue with Safari's tracking prevention, fixed in Thursday's release. "
        "Until then, allowing cross-site tracking for our site helps.",
        "That worked. Looking forward to the fix.",
    ),
    Topic(
        "Can I get an invoice with our VAT number on it?",
        "Of course. What's the VAT number, and should it be on past invoices too?",
        "It's DE123456789. Yes, for the last three months please.",
        "Regenerated three invoices with the VAT id; finance asked us to tick 'reverse charge'.",
        "I've re-issued the last three invoices with your VAT number; they're in Billing > "
        "Invoices.",
        "Got them, thanks a lot!",
    ),
    Topic(
        "We'd like to upgrade to the Business plan. Is the price per seat?",
        "Yes, Business is per seat, billed monthly or yearly. How many seats do you need?",
        "About 25, maybe 30 by summer.",
        "Over 20 seats: offer the yearly discount, sales is fine with 15%.",
        "For 25 seats on a yearly plan we can offer 15% off. Shall I send you a quote?",
        "Yes please, send it over and I'll get it approved.",
    ),
    Topic(
        "Your CSV export cuts off accented characters in names.",
        "Thanks for reporting! Are you opening the file in Excel?",
        "Yes, Excel on Windows. Names like 'José' come out as 'JosÃ©'.",
        "Excel needs a UTF-8 BOM; engineering has a ticket, workaround is the import wizard.",
        "Excel doesn't detect UTF-8 on its own. Until our fix ships, use Data > From Text and "
        "pick UTF-8.",
        "The import wizard did it. Thanks!",
    ),
    Topic(
        "Is there a way to change the e-mail address on my account?",
        "Yes: Profile > E-mail. You'll need to confirm the new address.",
        "I don't receive the confirmation e-mail.",
        "Bounce log shows their mail server rejected us as spam; asked them to allowlist.",
        "Your mail server is rejecting our e-mails. Could your IT allow mail from our domain? "
        "Then I'll resend it.",
        "IT fixed it and the confirmation came through. Thank you!",
    ),
    Topic(
        "The dashboard has been very slow since yesterday.",
        "Sorry about that. Is it slow everywhere, or on one page in particular?",
        "Mostly the reports page, it takes almost a minute to load.",
        "Their account has 3 years of data in one report; suggested a date filter, ops looking "
        "at the query.",
        "The report loads your whole history. A date range makes it fast right away, and "
        "we're speeding up the full view too.",
        "With a date range it's instant. Thanks for the tip.",
    ),
    Topic(
        "Do you integrate with Slack?",
        "We do! Settings > Integrations > Slack, then pick a channel for new conversations.",
        "Can it post only the conversations assigned to me?",
        "Per-assignee routing isn't there yet; added their vote to the feature request.",
        "Not yet, but I've added your vote to that request. For now a channel per inbox is "
        "the closest.",
        "OK, we'll use a separate inbox for now. Thanks for the help.",
    ),
    Topic(
        "I accidentally deleted a customer record. Can it be restored?",
        "Deleted records are kept for 30 days. When did you delete it, and what was the name?",
        "This morning, around 9. The customer was 'Baker & Sons'.",
        "Restored from the soft-delete table; double-check the notes came back too.",
        "I've restored 'Baker & Sons' with its history. Could you check everything is there?",
        "Everything is back, you saved my day!",
    ),
    Topic(
        "Can we use our own domain for the help center?",
        "Yes, on the Pro plan and above. You add a CNAME record pointing to us.",
        "I added the CNAME an hour ago but it says 'not verified'.",
        "DNS shows the CNAME on the apex, not on help.; walked them through it.",
        "The record is on your main domain; it needs to be on the 'help' subdomain. Once "
        "moved, verification takes a few minutes.",
        "Moved it and it's verified now. Thank you!",
    ),
)

# What customers add while they wait, and what colleagues say to each other.
NUDGES: Final = (
    "Any update on this?",
    "Just checking in, is anyone looking at this?",
    "I also sent a screenshot by e-mail.",
    "Sorry, one more thing: this is a bit urgent for us.",
)
NOTES: Final = (
    "Customer is on a trial that ends Friday, worth a quick answer.",
    "Same issue as last week's ticket, see the linked bug.",
    "Asked engineering in #support-escalations.",
    "VIP account: keep the account manager in the loop.",
)
