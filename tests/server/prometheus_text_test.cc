#include "src/server/prometheus_text.h"

#include <gtest/gtest.h>

namespace genops::server {
namespace {

TEST(PrometheusTextTest, WritesHelpAndTypeOncePerMetricAndEscapes) {
  PrometheusText t;
  t.Counter("genops_x_total", "Things\nseen \\ counted", 3, {{"result", "ok"}});
  t.Counter("genops_x_total", "Things\nseen \\ counted", 4, {{"result", "say \"no\"\n"}});
  t.Gauge("genops_y", "A level", -2);
  t.CounterText("genops_usd_total", "Money", "0.0045", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(t.Finish(),
            "# HELP genops_x_total Things\\nseen \\\\ counted\n"
            "# TYPE genops_x_total counter\n"
            "genops_x_total{result=\"ok\"} 3\n"
            "genops_x_total{result=\"say \\\"no\\\"\\n\"} 4\n"
            "# HELP genops_y A level\n"
            "# TYPE genops_y gauge\n"
            "genops_y -2\n"
            "# HELP genops_usd_total Money\n"
            "# TYPE genops_usd_total counter\n"
            "genops_usd_total{a=\"1\",b=\"2\"} 0.0045\n");
}

}  // namespace
}  // namespace genops::server
