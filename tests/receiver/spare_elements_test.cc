#include "src/receiver/spare_elements.h"

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gtest/gtest.h"

namespace genops::receiver {
namespace {

using telemetry::Attribute;
using telemetry::AttributeKey;
using telemetry::AttributeValue;
using telemetry::SpanEvent;

constexpr std::string_view kId = "genops.operation.id";
constexpr std::string_view kModel = "genops.cost.model";

std::vector<Attribute> Tail() {
  return {{AttributeKey("decoded"), AttributeValue(std::string(100, 'd'))},
          {AttributeKey::Static(kId), AttributeValue(std::string(49, 'i'))},
          {AttributeKey::Static("genops.cost.total"), AttributeValue(0.5)},
          {AttributeKey::Static(kModel), AttributeValue(std::string(17, 'm'))},
          {AttributeKey::Static("genops.team"), AttributeValue(std::string("short"))}};
}

TEST(SpareElementsTest, KeepsOnlyStaticKeyedAttributesOwningAHeapString) {
  SpareElements spares;
  std::vector<Attribute> attributes = Tail();
  spares.Keep(attributes, 1);  // the first stays
  ASSERT_EQ(attributes.size(), 1u);
  EXPECT_EQ(attributes[0].key, "decoded");
  // The id and the model (49 and 17 bytes); not the double, the short string or an owned key.
  EXPECT_EQ(spares.attributes_left(), 2u);
  spares.Keep(attributes, 1);  // nothing beyond `used`: nothing happens
  EXPECT_EQ(attributes.size(), 1u);
}

TEST(SpareElementsTest, AppendWithKeyReusesTheSpareThatHadTheKey) {
  SpareElements spares;
  std::vector<Attribute> old = Tail();
  const char* id_buffer = std::get<std::string>(old[1].value).data();
  const char* model_buffer = std::get<std::string>(old[3].value).data();
  spares.Keep(old, 0);
  ASSERT_EQ(spares.attributes_left(), 2u);

  std::vector<Attribute> to;
  to.reserve(8);
  // A key no spare had: a new attribute with that key.
  Attribute& team = spares.AppendWithKey(to, "genops.team");
  EXPECT_EQ(team.key, "genops.team");
  EXPECT_TRUE(team.key.is_static());
  EXPECT_EQ(spares.attributes_left(), 2u);
  // The model before the id: found among the next spares, out of order.
  Attribute& model = spares.AppendWithKey(to, kModel);
  EXPECT_EQ(model.key, kModel);
  EXPECT_EQ(std::get<std::string>(model.value).data(), model_buffer);
  Attribute& id = spares.AppendWithKey(to, kId);
  EXPECT_EQ(id.key, kId);
  EXPECT_EQ(std::get<std::string>(id.value).data(), id_buffer);
  EXPECT_EQ(spares.attributes_left(), 0u);
  // None left: new ones.
  Attribute& again = spares.AppendWithKey(to, kId);
  EXPECT_EQ(again.key, kId);
  EXPECT_EQ(to.size(), 4u);
}

TEST(SpareElementsTest, EventsAreHandedOutInOrderAndClearForgetsTheRest) {
  SpareElements spares;
  std::vector<SpanEvent> events(3);
  events[0].name = AttributeKey("kept-0");
  events[1].name = AttributeKey("kept-1");
  events[2].name = AttributeKey("kept-2");
  spares.Keep(events, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(spares.events_left(), 2u);
  std::vector<SpanEvent> to;
  EXPECT_EQ(spares.Append(to).name, "kept-1");
  EXPECT_EQ(spares.events_left(), 1u);
  spares.Clear();
  EXPECT_EQ(spares.events_left(), 0u);
  EXPECT_EQ(spares.attributes_left(), 0u);
  EXPECT_TRUE(spares.Append(to).name.empty());  // a new event
}

}  // namespace
}  // namespace genops::receiver
