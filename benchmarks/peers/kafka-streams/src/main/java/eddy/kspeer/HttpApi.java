package eddy.kspeer;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import eddy.kspeer.Json.CountSum;
import eddy.kspeer.Scenarios.StoreKind;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.ReadOnlyWindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * The peer's HTTP API on 127.0.0.1 (JDK HttpServer, 2 worker threads):
 *   GET /ready                      200 when KafkaStreams is RUNNING, else 503
 *   GET /views/{store}/keys/{key}   200 + JSON, 404 when the key has nothing, 503 when not RUNNING
 */
final class HttpApi {
  private static final int THREADS = 2;

  private final KafkaStreams streams;
  private final Map<String, StoreKind> stores;
  private final long windowSizeMs;
  private final HttpServer server;
  private final ExecutorService executor;

  HttpApi(KafkaStreams streams, Map<String, StoreKind> stores, long windowSizeMs, int port) throws IOException {
    this.streams = streams;
    this.stores = stores;
    this.windowSizeMs = windowSizeMs;
    // TCP_NODELAY on accepted connections: without it a response written in two segments
    // (headers, body) waits for the client's delayed ACK, ~40 ms per keep-alive request.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    this.server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 64);
    this.executor = Executors.newFixedThreadPool(THREADS, r -> {
      Thread t = new Thread(r, "eddy-ks-peer-http");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/", this::handle);
  }

  void start() {
    server.start();
  }

  void stop() {
    server.stop(0);
    executor.shutdownNow();
  }

  private void handle(HttpExchange ex) throws IOException {
    try (ex) {
      if (!ex.getRequestMethod().equals("GET")) {
        send(ex, 405, error("only GET"));
        return;
      }
      String path = ex.getRequestURI().getRawPath();
      if (path.equals("/ready")) {
        KafkaStreams.State state = streams.state();
        send(ex, state == KafkaStreams.State.RUNNING ? 200 : 503, Map.of("state", state.name()));
        return;
      }
      String[] parts = path.split("/", -1); // "", "views", store, "keys", key
      if (parts.length != 5 || !parts[0].isEmpty() || !parts[1].equals("views") || !parts[3].equals("keys")) {
        send(ex, 404, error("no such path; GET /views/{store}/keys/{key} or /ready"));
        return;
      }
      String store = percentDecode(parts[2]);
      String key = percentDecode(parts[4]);
      if (store == null || key == null) {
        send(ex, 400, error("bad percent-encoding"));
        return;
      }
      StoreKind kind = stores.get(store);
      if (kind == null) {
        send(ex, 404, error("no store named '" + store + "'; stores: " + String.join(", ", stores.keySet())));
        return;
      }
      KafkaStreams.State state = streams.state();
      if (state != KafkaStreams.State.RUNNING) {
        send(ex, 503, error("not queryable while " + state));
        return;
      }
      Object body;
      try {
        body = kind == StoreKind.WINDOW ? windows(store, key) : value(store, key);
      } catch (InvalidStateStoreException e) {
        send(ex, 503, error("store '" + store + "' not queryable: " + e.getMessage()));
        return;
      }
      if (body == null) {
        send(ex, 404, error("store '" + store + "' has nothing for key '" + key + "'"));
      } else {
        send(ex, 200, body);
      }
    } catch (RuntimeException e) {
      send(ex, 500, error(e.toString()));
    }
  }

  /** Every window of the key, by start; null when it has none. */
  private Object windows(String store, String key) {
    ReadOnlyWindowStore<String, CountSum> ws = streams.store(
        StoreQueryParameters.fromNameAndType(store, QueryableStoreTypes.<String, CountSum>windowStore()));
    List<Map<String, Object>> out = new ArrayList<>();
    try (WindowStoreIterator<CountSum> it =
        ws.fetch(key, Instant.ofEpochMilli(0), Instant.ofEpochMilli(Long.MAX_VALUE))) {
      while (it.hasNext()) {
        KeyValue<Long, CountSum> kv = it.next();
        Map<String, Object> w = new LinkedHashMap<>();
        w.put("start", kv.key);
        w.put("end", kv.key + windowSizeMs);
        w.put("count", kv.value.count());
        w.put("sum", kv.value.sum());
        out.add(w);
      }
    }
    return out.isEmpty() ? null : out;
  }

  private Object value(String store, String key) {
    ReadOnlyKeyValueStore<String, Object> kv = streams.store(
        StoreQueryParameters.fromNameAndType(store, QueryableStoreTypes.<String, Object>keyValueStore()));
    return kv.get(key);
  }

  private static Map<String, Object> error(String message) {
    return Map.of("error", message);
  }

  private static void send(HttpExchange ex, int status, Object body) throws IOException {
    byte[] bytes = Json.write(body);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, bytes.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(bytes);
    }
  }

  /** RFC 3986 percent-decoding into UTF-8 ('+' stays '+'); null on a malformed escape. */
  static String percentDecode(String s) {
    if (s.indexOf('%') < 0) return s;
    ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '%') {
        if (i + 2 >= s.length()) return null;
        int hi = Character.digit(s.charAt(i + 1), 16), lo = Character.digit(s.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) return null;
        out.write(hi * 16 + lo);
        i += 2;
      } else {
        int end = s.indexOf('%', i);
        if (end < 0) end = s.length();
        byte[] b = s.substring(i, end).getBytes(StandardCharsets.UTF_8);
        out.write(b, 0, b.length);
        i = end - 1;
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }
}
