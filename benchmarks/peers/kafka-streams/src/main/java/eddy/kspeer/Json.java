package eddy.kspeer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;

/** The serdes: JSON values as Jackson trees, and the (count, sum) pair of scenario (b). */
final class Json {
  /** One ObjectMapper for the process: thread-safe once configured. */
  static final ObjectMapper MAPPER = new ObjectMapper();

  private Json() {}

  /** A JSON value, parsed into a Jackson tree (every record's value is really parsed). */
  static Serde<JsonNode> serde() {
    Serializer<JsonNode> ser = (topic, node) -> {
      if (node == null) return null;
      try {
        return MAPPER.writeValueAsBytes(node);
      } catch (IOException e) {
        throw new SerializationException("cannot write JSON", e);
      }
    };
    Deserializer<JsonNode> de = (topic, bytes) -> {
      if (bytes == null) return null;
      try {
        return MAPPER.readTree(bytes);
      } catch (IOException e) {
        throw new SerializationException("invalid JSON value", e);
      }
    };
    return Serdes.serdeFrom(ser, de);
  }

  static byte[] write(Object value) {
    try {
      return MAPPER.writeValueAsBytes(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Scenario (b)'s aggregate. */
  record CountSum(long count, long sum) {
    static final CountSum ZERO = new CountSum(0, 0);

    CountSum add(long amount) {
      return new CountSum(count + 1, sum + amount);
    }
  }

  /** CountSum as 16 bytes: count then sum, each a big-endian 64-bit integer. */
  static Serde<CountSum> countSumSerde() {
    Serializer<CountSum> ser = (topic, cs) -> {
      if (cs == null) return null;
      return ByteBuffer.allocate(16).putLong(cs.count()).putLong(cs.sum()).array();
    };
    Deserializer<CountSum> de = (topic, bytes) -> {
      if (bytes == null) return null;
      if (bytes.length != 16) throw new SerializationException("count/sum: expected 16 bytes, got " + bytes.length);
      ByteBuffer b = ByteBuffer.wrap(bytes);
      return new CountSum(b.getLong(), b.getLong());
    };
    return Serdes.serdeFrom(ser, de);
  }
}
