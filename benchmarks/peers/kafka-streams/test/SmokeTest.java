// End-to-end check of the peer against a real broker, run as a single-file program with the
// peer's fat jar on the class path (kafka-clients and Jackson come from it):
//
//   java -cp target/eddy-ks-peer.jar test/SmokeTest.java fill BOOTSTRAP DIR [PREFIX]
//       creates PREFIX{events,customers,impressions,clicks} (3 partitions each), writes small
//       data following benchmarks/DATA.md (Kafka timestamp = ts, murmur2 partitions, duplicates,
//       out-of-order events, one sentinel per partition) and DIR/expected-{b,c,d,e}.json: every
//       key's expected HTTP body (null: 404), computed here independently of Kafka Streams.
//   java -cp target/eddy-ks-peer.jar test/SmokeTest.java check URL STORE DIR TIMEOUT_S
//       polls the sentinel keys until all answer 200, then compares every expected key.
//
// A stand-in until build/benchmarks/eddy-loadgen exists; test/run drives both.
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.*;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;

public class SmokeTest {
  static final ObjectMapper M = new ObjectMapper();
  static final int P = 3;
  static final long START = 1_795_600_000_000L;
  static final int N_EVENTS = 6000, KEYS = 40, EVENTS_PER_EVENT_SECOND = 20;
  static final double OUT_OF_ORDER = 0.1, DUPLICATES = 0.05;
  static final int MAX_DELAY = 5000, VALUE_BYTES = 100;
  static final int N_IMPRESSIONS = 3000;
  static final double CLICK_FRACTION = 0.5;

  record Rec(String key, String value, long ts) {
    int partition() { return partitionOf(key); }
  }

  static int partitionOf(String key) {
    return Utils.toPositive(Utils.murmur2(key.getBytes(StandardCharsets.UTF_8))) % P;
  }

  static String sentinelKey(int p) {
    for (int i = 0; ; i++) {
      String k = "__end-" + p + "-" + i;
      if (partitionOf(k) == p) return k;
    }
  }

  /** The value with "pad" sized so that the whole is about VALUE_BYTES long. */
  static String padded(String head) {
    int len = head.length() + "\"pad\":\"\"}".length();
    return head + "\"pad\":\"" + "x".repeat(Math.max(0, VALUE_BYTES - len)) + "\"}";
  }

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "fill" -> fill(args[1], Path.of(args[2]), args.length > 3 ? args[3] : "");
      case "check" -> System.exit(check(args[1], args[2], Path.of(args[3]), Integer.parseInt(args[4])));
      default -> throw new IllegalArgumentException(args[0]);
    }
  }

  static void fill(String bootstrap, Path dir, String prefix) throws Exception {
    Random rnd = new Random(42);
    long step = 1000 / EVENTS_PER_EVENT_SECOND;
    // events
    List<Rec> events = new ArrayList<>();
    for (int seq = 0; seq < N_EVENTS; seq++) {
      if (seq > 0 && rnd.nextDouble() < DUPLICATES) {
        int from = Math.max(0, events.size() - 1000);
        events.add(events.get(from + rnd.nextInt(events.size() - from)));
        continue;
      }
      String key = "k" + rnd.nextInt(KEYS);
      long ts = START + seq * step;
      if (rnd.nextDouble() < OUT_OF_ORDER) ts -= rnd.nextInt(MAX_DELAY + 1);
      int amount = 1 + rnd.nextInt(1000);
      events.add(new Rec(key, padded("{\"id\":\"e" + seq + "\",\"key\":\"" + key + "\",\"amount\":" + amount
          + ",\"ts\":" + ts + ","), ts));
    }
    long maxTs = events.stream().mapToLong(Rec::ts).max().orElseThrow();
    List<String> sentinels = new ArrayList<>();
    for (int p = 0; p < P; p++) {
      String key = sentinelKey(p);
      sentinels.add(key);
      events.add(new Rec(key, padded("{\"id\":\"e" + (N_EVENTS + p) + "\",\"key\":\"" + key
          + "\",\"amount\":1,\"ts\":" + (maxTs + 1) + ","), maxTs + 1));
    }
    // table: k0..k(KEYS-1), then the sentinel keys; all stamped before the first event
    List<Rec> table = new ArrayList<>();
    long tableTs = START - 10_000;
    for (int n = 0; n < KEYS; n++) {
      table.add(new Rec("k" + n, padded("{\"key\":\"k" + n + "\",\"segment\":\"s" + (n % 100)
          + "\",\"name\":\"customer-" + n + "\",\"ts\":" + (tableTs + n) + ","), tableTs + n));
    }
    for (int p = 0; p < P; p++) {
      String key = sentinels.get(p);
      long ts = tableTs + KEYS + p;
      table.add(new Rec(key, padded("{\"key\":\"" + key + "\",\"segment\":\"s-end\",\"name\":\"sentinel-" + p
          + "\",\"ts\":" + ts + ","), ts));
    }
    // impressions and clicks
    List<Rec> impressions = new ArrayList<>(), clicks = new ArrayList<>();
    for (int seq = 0; seq < N_IMPRESSIONS; seq++) {
      long ts = START + seq * step;
      String id = "i" + seq;
      impressions.add(new Rec(id, padded("{\"id\":\"" + id + "\",\"campaign\":\"c" + (seq % 100)
          + "\",\"ts\":" + ts + ","), ts));
      if (rnd.nextDouble() < CLICK_FRACTION) {
        long cts = ts + rnd.nextInt(30_001);
        clicks.add(new Rec(id, "{\"id\":\"" + id + "\",\"cost\":" + (1 + rnd.nextInt(100)) + ",\"ts\":" + cts + "}", cts));
      }
    }
    clicks.sort(Comparator.comparingLong(Rec::ts));
    long maxImp = Math.max(impressions.stream().mapToLong(Rec::ts).max().orElseThrow(),
        clicks.stream().mapToLong(Rec::ts).max().orElseThrow());
    for (int p = 0; p < P; p++) {
      String key = sentinels.get(p);
      long ts = maxImp + 1;
      impressions.add(new Rec(key, padded("{\"id\":\"" + key + "\",\"campaign\":\"c-end\",\"ts\":" + ts + ","), ts));
      clicks.add(new Rec(key, "{\"id\":\"" + key + "\",\"cost\":1,\"ts\":" + ts + "}", ts));
    }

    Map<String, List<Rec>> topics = new LinkedHashMap<>();
    topics.put(prefix + "customers", table);
    topics.put(prefix + "events", events);
    topics.put(prefix + "impressions", impressions);
    topics.put(prefix + "clicks", clicks);
    Properties props = new Properties();
    props.put("bootstrap.servers", bootstrap);
    try (Admin admin = Admin.create(props)) {
      List<NewTopic> nts = new ArrayList<>();
      for (String t : topics.keySet()) nts.add(new NewTopic(t, P, (short) 1));
      admin.createTopics(nts).all().get();
    }
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    try (KafkaProducer<String, String> producer =
        new KafkaProducer<>(props, new StringSerializer(), new StringSerializer())) {
      for (var e : topics.entrySet()) {
        for (Rec r : e.getValue()) producer.send(new ProducerRecord<>(e.getKey(), r.partition(), r.ts(), r.key(), r.value()));
        producer.flush();
        System.err.println("fill: " + e.getValue().size() + " records to " + e.getKey());
      }
    }

    // expected views
    Files.createDirectories(dir);
    Files.write(dir.resolve("sentinels.txt"), sentinels);
    // (b): tumbling 1 min windows, grace 10 s, per-partition stream time; late records dropped
    Map<String, TreeMap<Long, long[]>> b = new TreeMap<>();
    long[] streamTime = new long[P];
    Arrays.fill(streamTime, Long.MIN_VALUE);
    int late = 0;
    for (Rec r : events) {
      int p = r.partition();
      streamTime[p] = Math.max(streamTime[p], r.ts());
      long start = r.ts() - Math.floorMod(r.ts(), 60_000L);
      if (start + 60_000 <= streamTime[p] - 10_000) { late++; continue; }
      long[] cs = b.computeIfAbsent(r.key(), k -> new TreeMap<>()).computeIfAbsent(start, s -> new long[2]);
      cs[0]++;
      cs[1] += M.readTree(r.value()).get("amount").asLong();
    }
    ObjectNode eb = M.createObjectNode();
    b.forEach((key, windows) -> {
      var arr = eb.putArray(key);
      windows.forEach((start, cs) -> arr.addObject().put("start", start).put("end", start + 60_000)
          .put("count", cs[0]).put("sum", cs[1]));
    });
    eb.putNull("no-such-key");
    // (c): dedup by id (10 min TTL on the store's stream time), then count per key
    Map<String, Long> c = new TreeMap<>();
    List<Map<String, Long>> seen = new ArrayList<>();
    long[] storeTime = new long[P];
    Arrays.fill(storeTime, Long.MIN_VALUE);
    for (int p = 0; p < P; p++) seen.add(new HashMap<>());
    int dups = 0;
    for (Rec r : events) {
      int p = r.partition();
      String id = M.readTree(r.value()).get("id").asText();
      Long f = seen.get(p).get(id);
      long ttl = 600_000;
      if (f != null && f >= r.ts() - ttl && f <= r.ts() + ttl && f > storeTime[p] - ttl) { dups++; continue; }
      seen.get(p).put(id, r.ts());
      storeTime[p] = Math.max(storeTime[p], r.ts());
      c.merge(r.key(), 1L, Long::sum);
    }
    ObjectNode ec = M.createObjectNode();
    c.forEach(ec::put);
    ec.putNull("no-such-key");
    // (d): the latest event per key, enriched with the customer's segment and name
    Map<String, JsonNode> customers = new HashMap<>();
    for (Rec r : table) customers.put(r.key(), M.readTree(r.value()));
    Map<String, JsonNode> d = new TreeMap<>();
    for (Rec r : events) {
      ObjectNode v = (ObjectNode) M.readTree(r.value());
      JsonNode cust = customers.get(r.key());
      v.set("segment", cust.get("segment"));
      v.set("name", cust.get("name"));
      d.put(r.key(), v);
    }
    ObjectNode ed = M.createObjectNode();
    d.forEach(ed::set);
    ed.putNull("no-such-key");
    // (e): each clicked impression with its click; unclicked impressions: 404
    Map<String, JsonNode> clickById = new HashMap<>();
    for (Rec r : clicks) clickById.put(r.key(), M.readTree(r.value()));
    ObjectNode ee = M.createObjectNode();
    int clicked = 0;
    for (Rec r : impressions) {
      JsonNode click = clickById.get(r.key());
      if (click == null) { ee.putNull(r.key()); continue; }
      ObjectNode v = (ObjectNode) M.readTree(r.value());
      v.set("click", click);
      ee.set(r.key(), v);
      clicked++;
    }
    M.writeValue(dir.resolve("expected-b.json").toFile(), eb);
    M.writeValue(dir.resolve("expected-c.json").toFile(), ec);
    M.writeValue(dir.resolve("expected-d.json").toFile(), ed);
    M.writeValue(dir.resolve("expected-e.json").toFile(), ee);
    System.err.printf("fill: events %d (+%d sentinels; %d late for b, %d duplicate ids for c), %d table rows,"
        + " %d impressions, %d clicked; sentinels %s%n",
        N_EVENTS, P, late, dups, table.size(), impressions.size(), clicked, sentinels);
  }

  static int check(String url, String store, Path dir, int timeoutS) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    JsonNode expected = M.readTree(dir.resolve("expected-" + store + ".json").toFile());
    List<String> sentinels = Files.readAllLines(dir.resolve("sentinels.txt"));
    long t0 = System.nanoTime(), deadline = t0 + timeoutS * 1_000_000_000L;
    Set<String> pending = new LinkedHashSet<>(sentinels);
    while (!pending.isEmpty()) {
      for (Iterator<String> it = pending.iterator(); it.hasNext(); ) {
        if (get(http, url, store, it.next()).statusCode() == 200) it.remove();
      }
      if (pending.isEmpty()) break;
      if (System.nanoTime() > deadline) {
        System.err.println("check " + store + ": sentinels still missing after " + timeoutS + " s: " + pending);
        return 1;
      }
      Thread.sleep(200);
    }
    System.err.printf("check %s: all %d sentinels answer 200 after %.1f s%n", store, sentinels.size(),
        (System.nanoTime() - t0) / 1e9);
    int passed = 0, failed = 0;
    for (var it = expected.fields(); it.hasNext(); ) {
      var e = it.next();
      HttpResponse<String> r = get(http, url, store, e.getKey());
      boolean ok = e.getValue().isNull()
          ? r.statusCode() == 404
          : r.statusCode() == 200 && M.readTree(r.body()).equals(e.getValue());
      if (ok) {
        passed++;
      } else {
        failed++;
        if (failed <= 5) {
          System.err.println("check " + store + ": key " + e.getKey() + ": got " + r.statusCode() + " " + r.body()
              + "\n    expected " + e.getValue());
        }
      }
    }
    System.err.printf("check %s: %d keys passed, %d failed%n", store, passed, failed);
    return failed == 0 ? 0 : 1;
  }

  static HttpResponse<String> get(HttpClient http, String url, String store, String key) throws Exception {
    String k = URLEncoder.encode(key, StandardCharsets.UTF_8).replace("+", "%20");
    return http.send(HttpRequest.newBuilder(URI.create(url + "/views/" + store + "/keys/" + k))
        .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
