#include "loadgen/selftest.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <memory>

#include "loadgen/murmur2.h"
#include "loadgen/producer.h"

namespace eddy::loadgen {

const std::vector<Murmur2Vector>& JavaMurmur2Vectors() {
  static const std::vector<Murmur2Vector> vectors = {
      {"21", -973932308},
      {"foobar", -790332482},
      {"a-little-bit-long-string", -985981536},
      {"a-little-bit-longer-string", -1486304829},
      {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
      {"abc", 479470107},
      {"", 275646681},
      {"a", -1563381124},
      {"ab", 316155434},
      {"abcd", -1323649548},
      {"abcde", 461995741},
      {"abcdefgh", -955427363},
      {"12345", -1188365604},
      {"\xC3\xA9t\xC3\xA9", -2101193575},  // "été" in UTF-8
      {"\xFF\x80\x7F", 968261134},
      {"\xFF\x80\x7F\xFE", -1882716587},
      {"\xFF\x80\x7F\xFE\x01", -1494072348},
      {"k0", -704538303},
      {"k99999", 1989236454},
      {"__end-0-0", -994939933},
      {"__end-0-1", -976761614},
      {"__end-1-0", -1675520116},
      {"__end-2-1", -939114714},
  };
  return vectors;
}

Status CheckMurmur2Vectors() {
  std::string wrong;
  for (const Murmur2Vector& v : JavaMurmur2Vectors()) {
    const int32_t got = Murmur2(v.key);
    if (got != v.java) {
      wrong += " murmur2('" + v.key + "') = " + std::to_string(got) + ", Java says " +
               std::to_string(v.java) + ";";
    }
  }
  if (wrong.empty()) return Status::Ok();
  return Status::Internal("murmur2 differs from Java:" + wrong);
}

Status CheckPlacement(const std::string& bootstrap, const std::string& topic, int32_t partitions,
                      int64_t extra_keys) {
  Result<std::unique_ptr<Producer>> created = Producer::Create({
      {"bootstrap.servers", bootstrap},
      {"partitioner", "murmur2_random"},
      {"linger.ms", "5"},
      {"acks", "all"},
  });
  if (!created.ok()) return created.status();
  Producer& producer = **created;
  Result<int32_t> ensured = producer.EnsureTopic(topic, partitions, /*exact=*/true);
  if (!ensured.ok()) return ensured.status();
  rd_kafka_topic_t* rkt = producer.Topic(topic);

  std::vector<std::string> keys = SentinelKeys(partitions);
  for (int64_t n = 0; n < extra_keys; ++n) keys.push_back("k" + std::to_string(n));
  int64_t sentinel = 0;
  for (const std::string& key : keys) {
    const int32_t predicted = JavaPartition(key, partitions);
    const int32_t librdkafka = rd_kafka_msg_partitioner_murmur2_random(
        rkt, key.data(), key.size(), partitions, nullptr, nullptr);
    if (librdkafka != predicted) {
      return Status::Internal("key '" + key + "': librdkafka's murmur2_random partitioner says " +
                              std::to_string(librdkafka) + ", JavaPartition says " +
                              std::to_string(predicted));
    }
    if (sentinel < partitions && predicted != sentinel) {
      return Status::Internal("sentinel key '" + key + "' maps to partition " +
                              std::to_string(predicted) + ", not " + std::to_string(sentinel));
    }
    ++sentinel;
    EDDY_RETURN_IF_ERROR(producer.Produce(rkt, key, "{}", 0, predicted));
  }
  EDDY_RETURN_IF_ERROR(producer.Flush(std::chrono::seconds(30)));
  if (!producer.first_error().empty()) return Status::Internal(producer.first_error());
  if (producer.delivered() != static_cast<int64_t>(keys.size())) {
    return Status::Internal(std::to_string(producer.delivered()) + " of " +
                            std::to_string(keys.size()) + " records delivered");
  }
  return Status::Ok();
}

Status CheckPlacementOnMockCluster(int32_t partitions, int64_t extra_keys) {
  // The mock cluster lives inside a client instance of its own.
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char errstr[512];
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (host == nullptr) {
    rd_kafka_conf_destroy(conf);
    return Status::Internal(std::string("mock cluster host: ") + errstr);
  }
  std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> host_owner(host, &rd_kafka_destroy);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, 1);
  if (cluster == nullptr) return Status::Internal("cannot start librdkafka's mock cluster");
  std::unique_ptr<rd_kafka_mock_cluster_t, void (*)(rd_kafka_mock_cluster_t*)> cluster_owner(
      cluster, &rd_kafka_mock_cluster_destroy);
  const std::string topic = "placement";
  if (rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, 1) !=
      RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Internal("mock cluster: cannot create topic");
  }
  return CheckPlacement(rd_kafka_mock_cluster_bootstraps(cluster), topic, partitions, extra_keys);
}

}  // namespace eddy::loadgen
