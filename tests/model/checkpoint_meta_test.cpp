// The numbers a checkpoint stores as meta text (step, sampler cursor, best loss, a Fisher file's
// count): read one way everywhere, the whole text or bad input naming the file and the key.
#include "model/checkpoint_file.h"

#include <catch2/catch.hpp>

#include "model/checkpoint_model.h"
#include "util/error.h"

using Catch::Matchers::Contains;
using plinth::BadInput;
using plinth::model::CheckpointContents;
using plinth::model::parse_meta_int;

TEST_CASE("checkpoint meta numbers: the whole text or bad input naming the file and key", "[model]") {
  CheckpointContents c;
  c.meta = {{"step", "120"}, {"lr_scale", "0.5"}, {"cursor", "12x"}, {"empty", ""}, {"loss", "2.5 nats"}};
  CHECK(c.meta_int("step", "run/step.ckpt") == 120);
  CHECK(c.meta_double("lr_scale", "run/step.ckpt") == 0.5);
  CHECK(c.meta_double("step", "run/step.ckpt") == 120.0);

  // A number followed by anything else is not one: resuming once read "12x" as 12.
  CHECK_THROWS_WITH(c.meta_int("cursor", "run/step.ckpt"),
                    "checkpoint run/step.ckpt: 'cursor' is not a number (12x)\n"
                    "  hint: the file is damaged: use another checkpoint");
  CHECK_THROWS_AS(c.meta_int("empty", "run/step.ckpt"), BadInput);
  CHECK_THROWS_AS(c.meta_int("lr_scale", "run/step.ckpt"), BadInput);
  CHECK_THROWS_WITH(c.meta_double("loss", "run/step.ckpt"), Contains("'loss' is not a number (2.5 nats)"));
  CHECK_THROWS_WITH(c.meta_int("sampler_cursor", "run/step.ckpt"), Contains("has no 'sampler_cursor' entry"));

  CHECK(parse_meta_int("-3") == -3);
  CHECK_FALSE(parse_meta_int("3.5"));
  CHECK_FALSE(parse_meta_int("99999999999999999999"));  // out of range

  // checkpoint_step: -1 when the step is absent or not a number, for readers that only show it.
  CHECK(plinth::model::checkpoint_step(c) == 120);
  c.meta["step"] = "12x";
  CHECK(plinth::model::checkpoint_step(c) == -1);
  c.meta.erase("step");
  CHECK(plinth::model::checkpoint_step(c) == -1);
}
