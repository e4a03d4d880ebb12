package eddy.kspeer;

import eddy.kspeer.Scenarios.StoreKind;
import eddy.kspeer.Scenarios.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.CloseOptions.GroupMembershipOperation;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import sun.misc.Signal;

/** eddy's Kafka Streams peer: see README.md. */
public final class Main {
  private static final String USAGE = """
      usage: java -jar eddy-ks-peer.jar --scenario b|c|d|e --bootstrap HOST:PORT
               --application-id ID --state-dir DIR --http-port N [--threads 1]
               [--events-topic events] [--table-topic customers]
               [--impressions-topic impressions] [--clicks-topic clicks]
               [--window-retention-ms MS] [--property KEY=VALUE]... [--describe]
        --property sets any StreamsConfig (or client) property, overriding the peer's own.
        --window-retention-ms: scenario b's window store retention (default: size + grace + 24 h,
          eddy's default). --describe prints the topology and exits.""";

  /** Settings that matter for a fair comparison: printed with their effective values. */
  private static final List<String> REPORTED_DEFAULTS = List.of(
      StreamsConfig.PROCESSING_GUARANTEE_CONFIG,
      StreamsConfig.COMMIT_INTERVAL_MS_CONFIG,
      StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG,
      StreamsConfig.NUM_STREAM_THREADS_CONFIG,
      StreamsConfig.NUM_STANDBY_REPLICAS_CONFIG,
      StreamsConfig.TOPOLOGY_OPTIMIZATION_CONFIG,
      StreamsConfig.MAX_TASK_IDLE_MS_CONFIG,
      StreamsConfig.REPLICATION_FACTOR_CONFIG,
      StreamsConfig.DEFAULT_DSL_STORE_CONFIG);

  private Main() {}

  public static void main(String[] args) throws Exception {
    // First of all, so that a SIGTERM during start-up also ends in an orderly exit 0.
    CountDownLatch stop = new CountDownLatch(1);
    Signal.handle(new Signal("TERM"), s -> stop.countDown());
    Signal.handle(new Signal("INT"), s -> stop.countDown());
    Map<String, String> opts = new TreeMap<>();
    Map<String, String> overrides = new TreeMap<>();
    boolean describe = false;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (a.equals("--help") || a.equals("-h")) {
        System.out.println(USAGE);
        return;
      }
      if (a.equals("--describe")) {
        describe = true;
        continue;
      }
      if (!a.startsWith("--") || i + 1 >= args.length) usage("bad argument '" + a + "'");
      String v = args[++i];
      if (a.equals("--property")) {
        int eq = v.indexOf('=');
        if (eq <= 0) usage("--property wants KEY=VALUE, got '" + v + "'");
        overrides.put(v.substring(0, eq), v.substring(eq + 1));
      } else {
        opts.put(a.substring(2), v);
      }
    }
    List<String> known = List.of("scenario", "bootstrap", "application-id", "state-dir", "http-port",
        "threads", "events-topic", "table-topic", "impressions-topic", "clicks-topic", "window-retention-ms");
    for (String k : opts.keySet()) if (!known.contains(k)) usage("unknown option --" + k);
    String scenario = required(opts, "scenario");
    int threads = Integer.parseInt(opts.getOrDefault("threads", "1"));
    Duration retention = opts.containsKey("window-retention-ms")
        ? Duration.ofMillis(Long.parseLong(opts.get("window-retention-ms")))
        : Scenarios.B_DEFAULT_RETENTION;
    Topics topics = new Topics(opts.getOrDefault("events-topic", "events"),
        opts.getOrDefault("table-topic", "customers"),
        opts.getOrDefault("impressions-topic", "impressions"),
        opts.getOrDefault("clicks-topic", "clicks"));

    Properties props = new Properties();
    if (!describe) {
      props.put(StreamsConfig.APPLICATION_ID_CONFIG, required(opts, "application-id"));
      props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, required(opts, "bootstrap"));
      props.put(StreamsConfig.STATE_DIR_CONFIG, required(opts, "state-dir"));
      required(opts, "http-port");
    } else {
      props.put(StreamsConfig.APPLICATION_ID_CONFIG, opts.getOrDefault("application-id", "describe"));
      props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, opts.getOrDefault("bootstrap", "127.0.0.1:9092"));
    }
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, Integer.toString(threads));
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    props.putAll(overrides);

    StreamsBuilder builder = new StreamsBuilder();
    Map<String, StoreKind> stores;
    try {
      stores = Scenarios.build(scenario, builder, topics, retention);
    } catch (IllegalArgumentException e) {
      usage(e.getMessage());
      return;
    }
    Topology topology = builder.build(props); // props: so that topology.optimization applies
    if (describe) {
      System.out.println(topology.describe());
      return;
    }
    System.out.println(configLine(scenario, props, topics, retention));
    System.out.flush();

    KafkaStreams streams = new KafkaStreams(topology, props);
    AtomicInteger exitCode = new AtomicInteger(0);
    streams.setStateListener((now, before) -> {
      System.err.println("eddy-ks-peer: state " + before + " -> " + now);
      if (now == KafkaStreams.State.ERROR) {
        exitCode.set(1);
        stop.countDown();
      }
    });
    streams.setUncaughtExceptionHandler(e -> {
      System.err.println("eddy-ks-peer: stream thread failed: " + e);
      e.printStackTrace();
      return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
    });

    HttpApi http = new HttpApi(streams, stores, Scenarios.B_SIZE.toMillis(),
        Integer.parseInt(opts.get("http-port")));
    http.start();
    if (stop.getCount() > 0) streams.start(); // else: SIGTERM came during start-up
    stop.await();
    System.err.println("eddy-ks-peer: closing");
    http.stop();
    // Leave the group on close: by default a closing Kafka Streams member stays in the group
    // until session.timeout.ms (45 s) expires, which a restarted peer would wait out.
    boolean closed = streams.close(CloseOptions.groupMembershipOperation(GroupMembershipOperation.LEAVE_GROUP)
        .withTimeout(Duration.ofSeconds(60)));
    if (!closed) {
      System.err.println("eddy-ks-peer: KafkaStreams did not close within 60 s");
      exitCode.compareAndSet(0, 1);
    }
    System.err.println("eddy-ks-peer: closed");
    System.exit(exitCode.get());
  }

  private static String configLine(String scenario, Properties props, Topics topics, Duration retention) {
    StreamsConfig effective = new StreamsConfig(props);
    Map<String, ?> values = effective.values();
    List<String> set = new ArrayList<>();
    new TreeMap<>(props).forEach((k, v) -> set.add(k + "=" + v));
    List<String> defaults = new ArrayList<>();
    for (String k : REPORTED_DEFAULTS) {
      if (!props.containsKey(k)) defaults.add(k + "=" + values.get(k));
    }
    String topicsText = switch (scenario) {
      case "b", "c" -> "events=" + topics.events();
      case "d" -> "events=" + topics.events() + " table=" + topics.table();
      default -> "impressions=" + topics.impressions() + " clicks=" + topics.clicks();
    };
    return "eddy-ks-peer: scenario=" + scenario + " kafka-streams=" + kafkaVersion()
        + " topics: " + topicsText
        + (scenario.equals("b") ? " window-retention-ms=" + retention.toMillis() : "")
        + " | set: " + String.join(" ", set)
        + " | defaults: " + String.join(" ", defaults);
  }

  /** The kafka-clients version, from the properties file its jar carries. */
  private static String kafkaVersion() {
    try (var in = KafkaStreams.class.getClassLoader().getResourceAsStream("kafka/kafka-version.properties")) {
      Properties p = new Properties();
      if (in != null) p.load(in);
      return p.getProperty("version", "unknown");
    } catch (java.io.IOException e) {
      return "unknown";
    }
  }

  private static String required(Map<String, String> opts, String name) {
    String v = opts.get(name);
    if (v == null) usage("--" + name + " is required");
    return v;
  }

  private static void usage(String message) {
    System.err.println("eddy-ks-peer: " + message);
    System.err.println(USAGE);
    System.exit(2);
  }
}
