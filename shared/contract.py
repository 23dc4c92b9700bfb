"""Names fixed by ../shared/CONTRACT.md. Changing any of these breaks upstream systems."""

EXCHANGE = "humas.events"

ENROLLED = "enrolled"
ATTENDED = "attended"
COMPLETED = "completed"
CERTIFICATE_ISSUED = "certificate.issued"
CERTIFICATE_REVOKED = "certificate.revoked"
# Our addition: a participant left the program (operator API); no certificate afterwards.
WITHDRAWN = "withdrawn"

TYPE_BY_ROUTING_KEY = {
    ENROLLED: "humas.enrolled.v1",
    ATTENDED: "humas.attended.v1",
    COMPLETED: "humas.completed.v1",
    CERTIFICATE_ISSUED: "humas.certificate.issued.v1",
    CERTIFICATE_REVOKED: "humas.certificate.revoked.v1",
    WITHDRAWN: "humas.withdrawn.v1",
}

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
ACCEPTED_CONTENT_TYPES = (CONTENT_TYPE, "application/json")

JENJANG = (
    "terampil",
    "mahir",
    "penyelia",
    "ahli_pertama",
    "ahli_muda",
    "ahli_madya",
    "ahli_utama",
)

# Our additions (CONTRACT.md allows additions): where rejected messages are set aside.
DEAD_LETTER_EXCHANGE = "humas.dead-letter"
REASON_HEADER = "x-rejection-reason"
