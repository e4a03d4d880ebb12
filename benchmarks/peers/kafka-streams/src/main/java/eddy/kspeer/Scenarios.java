package eddy.kspeer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import eddy.kspeer.Json.CountSum;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.JoinWindows;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.StreamJoined;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * The four benchmark topologies. Each adds its processors to a StreamsBuilder and returns the
 * stores the HTTP API serves, by name. No scenario re-keys, so none creates a repartition topic.
 */
final class Scenarios {
  enum StoreKind { WINDOW, KEY_VALUE }

  /** (b): tumbling one-minute windows with 10 s grace. */
  static final Duration B_SIZE = Duration.ofMinutes(1);
  static final Duration B_GRACE = Duration.ofSeconds(10);
  /** eddy's default window retention: size + grace + 24 h (closed windows queryable for a day). */
  static final Duration B_DEFAULT_RETENTION = B_SIZE.plus(B_GRACE).plus(Duration.ofHours(24));
  /** (c): ids are remembered for 10 minutes of event time. */
  static final Duration C_TTL = Duration.ofMinutes(10);
  /** (e): a click joins an impression within 1 minute either way, 1 minute grace. */
  static final Duration E_WITHIN = Duration.ofMinutes(1);
  static final Duration E_GRACE = Duration.ofMinutes(1);

  record Topics(String events, String table, String impressions, String clicks) {}

  private static final Serde<String> KEYS = Serdes.String();

  private Scenarios() {}

  static Map<String, StoreKind> build(String scenario, StreamsBuilder builder, Topics topics,
      Duration windowRetention) {
    Serde<JsonNode> json = Json.serde();
    Consumed<String, JsonNode> consumed = Consumed.with(KEYS, json);
    Map<String, StoreKind> stores = new LinkedHashMap<>();
    switch (scenario) {
      case "b" -> {
        builder.stream(topics.events(), consumed)
            .groupByKey(Grouped.with(KEYS, json))
            .windowedBy(TimeWindows.ofSizeAndGrace(B_SIZE, B_GRACE))
            .aggregate(() -> CountSum.ZERO, (key, event, agg) -> agg.add(longField(event, "amount")),
                Materialized.<String, CountSum, WindowStore<Bytes, byte[]>>as("b")
                    .withKeySerde(KEYS)
                    .withValueSerde(Json.countSumSerde())
                    .withRetention(windowRetention));
        stores.put("b", StoreKind.WINDOW);
      }
      case "c" -> {
        // The usual Kafka Streams dedup: a window store of seen ids (window = retention = TTL),
        // one per partition; every record of a key (hence of an id) is in one partition.
        builder.addStateStore(Stores.windowStoreBuilder(
            Stores.persistentWindowStore("c-dedup", C_TTL, C_TTL, false), KEYS, Serdes.Long()));
        builder.stream(topics.events(), consumed)
            .processValues(() -> new Dedup("c-dedup", C_TTL.toMillis()), "c-dedup")
            .groupByKey(Grouped.with(KEYS, json))
            .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("c")
                .withKeySerde(KEYS)
                .withValueSerde(Serdes.Long()));
        stores.put("c", StoreKind.KEY_VALUE);
      }
      case "d" -> {
        KTable<String, JsonNode> customers = builder.table(topics.table(), consumed,
            Materialized.<String, JsonNode, KeyValueStore<Bytes, byte[]>>as("d-customers")
                .withKeySerde(KEYS)
                .withValueSerde(json));
        builder.stream(topics.events(), consumed)
            .join(customers, Scenarios::enrich)
            .toTable(Materialized.<String, JsonNode, KeyValueStore<Bytes, byte[]>>as("d")
                .withKeySerde(KEYS)
                .withValueSerde(json));
        stores.put("d", StoreKind.KEY_VALUE);
        stores.put("d-customers", StoreKind.KEY_VALUE);
      }
      case "e" -> {
        KStream<String, JsonNode> impressions = builder.stream(topics.impressions(), consumed);
        KStream<String, JsonNode> clicks = builder.stream(topics.clicks(), consumed);
        impressions
            .join(clicks, Scenarios::withClick,
                JoinWindows.ofTimeDifferenceAndGrace(E_WITHIN, E_GRACE),
                StreamJoined.with(KEYS, json, json).withStoreName("e-join"))
            .toTable(Materialized.<String, JsonNode, KeyValueStore<Bytes, byte[]>>as("e")
                .withKeySerde(KEYS)
                .withValueSerde(json));
        stores.put("e", StoreKind.KEY_VALUE);
      }
      default -> throw new IllegalArgumentException("unknown scenario '" + scenario + "' (b, c, d or e)");
    }
    return stores;
  }

  static long longField(JsonNode value, String field) {
    JsonNode n = value.get(field);
    if (n == null || !n.isIntegralNumber()) {
      throw new IllegalArgumentException("value has no integer '" + field + "': " + value);
    }
    return n.asLong();
  }

  static ObjectNode object(JsonNode value) {
    if (!(value instanceof ObjectNode o)) {
      throw new IllegalArgumentException("value is not a JSON object: " + value);
    }
    return o;
  }

  /** (d): the event's members, then the customer's segment and name. */
  static JsonNode enrich(JsonNode event, JsonNode customer) {
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.setAll(object(event));
    out.set("segment", customer.get("segment"));
    out.set("name", customer.get("name"));
    return out;
  }

  /** (e): the impression's members plus "click": the click (eddy's join output with as: click). */
  static JsonNode withClick(JsonNode impression, JsonNode click) {
    ObjectNode out = Json.MAPPER.createObjectNode();
    out.setAll(object(impression));
    out.set("click", click);
    return out;
  }

  /**
   * Drops a record whose "id" was seen within the TTL: a window store of id → first-seen time,
   * whose retention (the TTL, from the partition's stream time) purges old ids.
   */
  static final class Dedup implements FixedKeyProcessor<String, JsonNode, JsonNode> {
    private final String storeName;
    private final long ttlMs;
    private FixedKeyProcessorContext<String, JsonNode> context;
    private WindowStore<String, Long> seen;

    Dedup(String storeName, long ttlMs) {
      this.storeName = storeName;
      this.ttlMs = ttlMs;
    }

    @Override
    public void init(FixedKeyProcessorContext<String, JsonNode> context) {
      this.context = context;
      this.seen = context.getStateStore(storeName);
    }

    @Override
    public void process(FixedKeyRecord<String, JsonNode> record) {
      JsonNode idNode = record.value() == null ? null : record.value().get("id");
      if (idNode == null || !idNode.isTextual()) {
        throw new IllegalArgumentException("value has no string 'id': " + record.value());
      }
      String id = idNode.textValue();
      long t = record.timestamp();
      try (WindowStoreIterator<Long> it = seen.fetch(id, t - ttlMs, t + ttlMs)) {
        if (it.hasNext()) return; // a duplicate
      }
      seen.put(id, t, t);
      context.forward(record);
    }
  }
}
