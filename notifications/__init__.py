"""Failure notifications: rules that watch jobs, queues and schedules, the channels that tell
people (e-mail, Slack-compatible webhooks, signed generic webhooks), and the deliveries made
for them, each a job of its own on the `notifications` queue (docs/notifications.md).

    kinds.py         the events a rule watches, the channel kinds, the statuses
    models.py        Channel, Rule, Condition, Event, Delivery, DeliveryAttempt
    errors.py        what a user can get wrong, each naming the field (the API's 400/404/409)
    selectors/       every read: what a user may see, the rules an event matches, the
                     measurements behind the conditions
    services/        every write: channels and rules, events and their throttle, deliveries and
                     their attempts, the periodic evaluation of the conditions
    signing.py       Standard Webhooks: secrets and signatures
    outbound.py      HTTP to a webhook: the address guard, no redirects, a timeout
    transports.py    one send per channel kind (webhook, Slack-compatible, e-mail)
    messages.py      the words and the payload of a message, single or digest
    presenters.py    channels, rules and deliveries as the API shows them (secrets hidden)
    receivers.py     the jobs app's signals (a job failed, a job lost its worker) as events
    deliveries.py    the job types: `notifications.deliver`, `notifications:evaluate`
    admin/, api/     the console and the REST API

Above the jobs app and the scheduler: neither imports this app (tests/unit/test_layering.py).
"""
