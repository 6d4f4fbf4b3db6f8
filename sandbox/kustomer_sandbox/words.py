"""Word lists used to make generated records look plausible (all invented)."""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "Ada Alan Amara Ana Anders Aria Arjun Beatriz Ben Bianca Carla Chen Chloe Dana Diego Dmitri "
    "Elena Eli Emeka Emma Farah Felix Fatima Gabriel Grace Hana Hugo Ines Isaac Ivy Jamal Jana "
    "Jonas Julia Kai Kenji Lara Leo Lina Luca Maya Mateo Mei Mira Nadia Nia Noah Olga Omar Pablo "
    "Priya Quinn Rafael Rosa Sam Sara Sofia Tariq Theo Uma Vera Wei Yara Yusuf Zoe"
)

LAST = _words(
    "Abe Adeyemi Alvarez Andersen Bauer Becker Brooks Castro Chen Costa Dubois Eriksen Fischer "
    "Fontaine Garcia Gupta Haddad Hansen Ito Jansen Kim Kowalski Larsen Lopez Martin Meyer Moreau "
    "Nakamura Novak Okafor Olsen Park Patel Petrov Quispe Rossi Santos Schmidt Silva Singh Suzuki "
    "Tanaka Torres Varga Weber Wong Yilmaz Zhang"
)

DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")

COMPANY_WORDS = _words(
    "Acme Globex Initech Umbrella Hooli Vandelay Stark Wayne Tyrell Soylent Wonka Gringotts "
    "Cyberdyne Aperture Monarch Oscorp Nakatomi Pied Piper Dunder Blue Sun Zorg Virtucon"
)

COMPANY_SUFFIX = ("Inc", "LLC", "Ltd", "GmbH", "SA", "Co", "Group", "Labs")

SUBJECTS = (
    "Where is my order?",
    "Refund request",
    "Wrong size delivered",
    "Package arrived damaged",
    "Change shipping address",
    "Cancel my subscription",
    "Question about my invoice",
    "Discount code not working",
    "Item out of stock?",
    "Return label please",
    "Login problems",
    "Warranty claim",
    "Exchange for a different colour",
    "Missing item in order",
    "Update payment method",
)

SNIPPETS = (
    "Hi, I placed an order last week and still haven't received a tracking number.",
    "Thanks for getting back to me so quickly!",
    "Could you please check the status of my refund?",
    "The box was crushed and the item inside is broken.",
    "I'd like to exchange this for a medium instead.",
    "We have issued a full refund to your original payment method.",
    "Your replacement is on its way, tracking to follow.",
    "Can you confirm the address on file?",
    "I have attached a photo of the damage.",
    "Sorry for the trouble - I've applied a 15% credit to your account.",
    "Is there any way to expedite shipping?",
    "Following up on my previous message.",
    "Ça ne fonctionne toujours pas, merci de vérifier.",
    "Vielen Dank für die schnelle Antwort!",
    "¿Pueden enviarme una etiqueta de devolución?",
)

NOTE_BODIES = (
    "Customer called in, verified identity, issued refund.",
    "Escalated to tier 2 - suspected carrier loss.",
    "VIP - please handle with priority.",
    "Waiting on warehouse to confirm stock.",
    "Duplicate of an earlier conversation; merged context here.",
    "Offered 10% discount as goodwill gesture.",
    "Chargeback risk, do not refund again without approval.",
    "Customer prefers SMS follow-ups.",
)

TAG_WORDS = _words(
    "billing refund shipping returns vip urgent damaged exchange warranty fraud chargeback "
    "subscription cancel feedback bug feature-request delayed lost wholesale influencer press "
    "social spam escalated follow-up priority international promo loyalty preorder backorder"
)

COLORS = (
    "#e53935",
    "#8e24aa",
    "#3949ab",
    "#039be5",
    "#00897b",
    "#7cb342",
    "#fdd835",
    "#fb8c00",
    "#6d4c41",
    "#546e7a",
)

DISPLAY_COLORS = ("red", "purple", "indigo", "blue", "teal", "green", "yellow", "orange", "grey")

LOCALES = ("en_US", "en_GB", "fr_FR", "de_DE", "es_ES", "pt_BR", "ja_JP", "nl_NL")

TIME_ZONES = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Sao_Paulo",
    "Australia/Sydney",
)

PRODUCTS = (
    "Trail Runner",
    "Merino Tee",
    "Rain Shell",
    "Canvas Tote",
    "Wool Beanie",
    "Travel Mug",
    "Desk Lamp",
    "Linen Sheets",
    "Yoga Mat",
    "Water Bottle",
)

TEAM_NAMES = (
    "Tier 1",
    "Tier 2",
    "Billing",
    "Returns",
    "VIP",
    "Social",
    "Escalations",
    "Night Shift",
    "EMEA",
    "APAC",
    "Wholesale",
    "Quality",
)

SHORTCUT_WORDS = (
    "Greeting",
    "Refund issued",
    "Tracking info",
    "Return label",
    "Apology",
    "Escalation",
    "Closing",
    "Discount",
    "Address check",
    "Warranty",
    "Exchange",
    "Out of stock",
)

WORKFLOW_NAMES = (
    "Auto-tag refunds",
    "Route VIP to VIP queue",
    "SLA breach alert",
    "Close stale snoozed",
    "CSAT survey after done",
    "Spam filter",
    "Assign returns team",
    "Sync orders from shop",
    "Escalate angry sentiment",
    "Welcome email",
    "Merge duplicates",
    "Priority from order value",
    "Translate inbound",
    "Out-of-office reply",
    "Chargeback alert",
)
