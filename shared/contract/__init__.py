"""Names fixed by docs/contract.md. Changing any of these breaks upstream systems."""

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

# docs/contract.md §3 "produced by", as roles (ops/rabbitmq_users.py turns each into a RabbitMQ login
# allowed to publish exactly these routing keys; consumers trust an event only from its producers).
UPSTREAM, OPERATOR = "upstream", "operator"
ENROLLMENT, ATTENDANCE, CERTIFICATES = "enrollment", "attendance", "certificates"
PRODUCERS = {
    ENROLLED: (UPSTREAM, ENROLLMENT),
    ATTENDED: (UPSTREAM,),
    COMPLETED: (ATTENDANCE,),
    CERTIFICATE_ISSUED: (CERTIFICATES,),
    CERTIFICATE_REVOKED: (CERTIFICATES,),
    WITHDRAWN: (UPSTREAM, ENROLLMENT),
}
# What each service consumes: its queues are `<service>.<routing key>` (and their dead-letter queues).
CONSUMES = {
    ENROLLMENT: (ENROLLED, WITHDRAWN),
    ATTENDANCE: (ENROLLED, ATTENDED, WITHDRAWN),
    CERTIFICATES: (COMPLETED,),
}
# Our addition: the events no service of ours consumes also go to their producer's own stream,
# `<service>.announced` (kept a year), so each publish is routed (an unroutable one stays pending in
# the outbox) and a subscriber who comes late can still read what was announced.
ANNOUNCED = {CERTIFICATES: (CERTIFICATE_ISSUED, CERTIFICATE_REVOKED)}
# The operator re-publishes dead letters (ops/deadletters.py), so it may publish whatever is consumed.
REPLAYABLE = tuple(key for key in TYPE_BY_ROUTING_KEY if any(key in keys for keys in CONSUMES.values()))

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

# Our additions (docs/contract.md allows additions): where rejected messages are set aside.
DEAD_LETTER_EXCHANGE = "humas.dead-letter"
REASON_HEADER = "x-rejection-reason"
# The reason a consumer gives for an event from a login that does not produce that event.
UNTRUSTED_PUBLISHER = "untrusted publisher"
