"""Operator tools: what ``deadmanctl`` runs, as a library.

* ``template``: install the TICKscript template, idempotently;
* ``topics``: read whole topics without joining a consumer group;
* ``dlq``: read and replay the dead-letter topic;
* ``audit`` (and ``desired``): compare Kapacitor's tasks with the lifecycle topics;
* ``health``: tell a healthy Kapacitor from a wedged or down one;
* ``heartbeat``: the canary task and ``heartbeat check``;
* ``cli``: ``deadmanctl`` itself.

Every command exits 0 when all is well, 1 when it found something to act on
(drift, a wedged Kapacitor, letters not replayed, a stale heartbeat) and 2 when it
could not do its job (bad settings or arguments, Kafka or Kapacitor unreachable). Every command
reaches Kafka through the same settings (``KafkaSettings``:
``KAFKA_BOOTSTRAP_SERVERS`` and ``KAFKA_CONSUMER_CONFIG``).
"""

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_ERROR = 2

__all__ = ["EXIT_ERROR", "EXIT_FINDING", "EXIT_OK"]
