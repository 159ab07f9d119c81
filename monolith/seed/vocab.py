"""Fixed word lists the seeder draws names and texts from (pure data, no I/O).

Nothing here may contain a tab, newline or backslash: rows are written in
PostgreSQL's COPY text format without escaping.
"""

from __future__ import annotations

MERCHANT_NAMES = (
    "Chai Point Retail", "Kirana Kart", "Bharat Bazaar", "Swadesh Mobility", "Dhaba Express",
    "Rangoli Fashions", "Sahyadri Travels", "Ganga Pharma", "Vidya Learning", "Metro Fuel Co",
    "Nilgiri Organics", "Pixel Payments Club", "Udaan Couriers", "Sitara Cinemas", "Aarogya Labs",
    "Monsoon Rentals", "Kaveri Electricals", "Lotus Insurance Brokers", "Desi Threads",
    "Himalaya Hostels",
)

FIRST_NAMES = (
    "Aarav", "Vivaan", "Aditya", "Vihaan", "Arjun", "Sai", "Reyansh", "Krishna", "Ishaan",
    "Rohan", "Ananya", "Diya", "Saanvi", "Aadhya", "Pari", "Anika", "Navya", "Myra", "Kavya",
    "Meera", "Priya", "Rahul", "Sneha", "Vikram", "Pooja", "Amit", "Neha", "Karan", "Divya",
    "Suresh", "Lakshmi", "Farhan", "Zoya", "Harpreet", "Gurpreet", "Joseph", "Maria", "Tenzin",
)

LAST_NAMES = (
    "Sharma", "Verma", "Iyer", "Nair", "Reddy", "Patel", "Shah", "Mehta", "Gupta", "Singh",
    "Khan", "Das", "Banerjee", "Chatterjee", "Mukherjee", "Rao", "Naidu", "Pillai", "Menon",
    "Joshi", "Kulkarni", "Deshpande", "Bhat", "Kapoor", "Malhotra", "Chopra", "Gill", "Sandhu",
    "Fernandes", "D'Souza", "Bhutia", "Yadav", "Mishra", "Pandey", "Agarwal", "Jain",
)

BANK_IFSC_PREFIXES = ("HDFC", "ICIC", "SBIN", "UTIB", "KKBK", "PUNB", "BARB", "YESB", "IDIB")

CREDIT_DESCRIPTIONS = (
    "UPI top-up", "Card top-up", "Net banking top-up", "Cashback", "Refund for order",
    "Referral bonus", "Salary advance", "Wallet load at counter",
)

DEBIT_DESCRIPTIONS = (
    "Order payment", "Bill payment", "Mobile recharge", "DTH recharge", "Fuel purchase",
    "Ticket booking", "Subscription renewal", "Grocery purchase", "Merchant QR payment",
)

KYC_REJECTION_REASONS = (
    "Document image unreadable",
    "Name does not match the document",
    "Document expired",
    "Document number invalid",
)

PAYOUT_FAILURE_REASON = "Beneficiary account closed"
