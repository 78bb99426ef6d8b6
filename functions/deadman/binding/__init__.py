"""CloudEvents over HTTP and Kafka: the binding facts the product relies on, once.

* **HTTP binary mode**: each attribute in a ``ce-<name>`` header, except
  ``datacontenttype`` in ``Content-Type``; the body is the data. Header values are
  percent-encoded (HTTP binding 3.1.3.2): space, ``"``, ``%`` and everything
  outside printable ASCII become ``%XX`` of their UTF-8 bytes; decoding is one
  round of percent-decoding. Knative's data plane and the Python SDK do neither
  (cloudevents/sdk-java#748): values they send arrive as they are, which decoding
  leaves alone unless they hold ``%XX`` sequences.
* **Kafka binary mode**: ``ce_<name>`` headers holding UTF-8 values, a
  ``content-type`` header, the data as the value; a KafkaSink takes the record key
  from the ``partitionkey`` extension.
* **Kafka structured mode**: ``content-type: application/cloudevents+json`` and the
  JSON envelope as the value.
* **KafkaSource wrapping**: a record that is neither is delivered as a
  ``dev.knative.kafka.event`` whose data is the record value, with the record key
  in ``key`` (and ``partitionkey``), one ``kafkaheader<name>`` extension per header
  (the name lower-cased, only ``[a-z0-9]`` kept) and the ``content-type`` header as
  ``datacontenttype``. Every delivered event also gets ``knativekafkapartition``
  and ``knativekafkaoffset`` (newer releases add ``knativekafkatopic``).
* **Dead letters**: what the delivery spec adds to them is in ``deadman.knative``.

Records are decoded by hand rather than with ``cloudevents.kafka``: the SDK
invents an ``id`` and a ``time`` for events that lack them, and neither an audit
nor a replay may.
"""

from . import _http, _kafka
from ._http import *  # noqa: F403 - the package's surface is its two halves
from ._kafka import *  # noqa: F403

__all__: list[str] = []
__all__ += _http.__all__
__all__ += _kafka.__all__
