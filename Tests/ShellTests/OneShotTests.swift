import XCTest

@testable import FlrShell

/// The one-shot forms accept the reference scripts' flags with their defaults and become shell lines.
final class OneShotTests: XCTestCase {
  func testCaptionDefaultsAreTheSeedCaptioners() throws {
    let parsed = try CaptionOneShot.parse(["--images", "photos"])
    XCTAssertEqual(
      parsed.commands,
      [
        "load microsoft/Florence-2-base-ft",
        "caption photos task=<DETAILED_CAPTION> beams=3 max_tokens=75 batch=1 ext=.txt",
      ])
  }

  func testCaptionFlags() throws {
    let parsed = try CaptionOneShot.parse([
      "--images", "my photos", "--base_model", "/m/large", "--peft_model", "loras/x", "--task", "<CAPTION>",
      "--batch_size", "4", "--save_captions", "--overwrite", "--caption_extension", ".caption", "--max_token_length",
      "20",
      "--revision", "refs/pr/6", "--seed", "7",
    ])
    XCTAssertEqual(
      parsed.commands,
      [
        "load /m/large revision=refs/pr/6", "load adapter=loras/x",
        "caption \"my photos\" task=<CAPTION> beams=3 max_tokens=20 batch=4 ext=.caption seed=7 save overwrite",
      ])
    // The lines read back as the commands they stand for.
    let caption = try XCTUnwrap(Lexer.statements(parsed.commands[2]).first)
    let bound = try Binder.bind(caption, to: CaptionCommand.command, settings: [:])
    XCTAssertEqual(bound.positionals, ["my photos"])
    XCTAssertEqual(bound.int("max_tokens"), 20)
    XCTAssertTrue(bound.flag("overwrite"))
    XCTAssertThrowsError(try CaptionOneShot.parse(["--images", "x", "--task", "<OD>"]))
    XCTAssertThrowsError(try CaptionOneShot.parse(["--task", "<CAPTION>"]), "--images is required")
  }

  func testTrainTranslatesEverySeedFlag() throws {
    let parsed = try TrainOneShot.parse([
      "--dataset_dir", "data", "--output_dir", "out dir", "--target_modules", "qkv", "fc1", "--rslora", "--rank", "8",
      "--alpha", "16", "--dropout", "0.1", "--learning_rate", "3e-5", "--batch_size", "2",
      "--gradient_accumulation_steps", "4", "--epochs", "2", "--gradient_checkpointing", "--sample_every_n_epochs", "1",
      "--sample_every_n_steps", "10", "--save_every_n_epochs", "1", "--save_every_n_steps", "50", "--device", "cpu",
      "--model_id", "microsoft/Florence-2-large-ft", "--seed", "42", "--log_with", "tensorboard", "--name", "run1",
      "--shuffle_captions", "--frozen_parts", "1", "--caption_dropout", "0.2", "--max_length", "77", "--prompt",
      "<CAPTION>", "--optimizer_name", "AdamW8bit", "--scheduler", "OneCycle", "--optimizer_args", "weight_decay=0.01",
    ])
    XCTAssertEqual(
      parsed.commands,
      [
        "load microsoft/Florence-2-large-ft", "dataset data",
        "lora rank=8 alpha=16 targets=qkv,fc1 dropout=0.1 init=gaussian seed=42 rslora",
        "train epochs=2 lr=3e-05 batch=2 accumulate=4 seed=42 optimizer=adamw8bit optimizer_args=\"weight_decay=0.01\" "
          + "scheduler=onecycle checkpointing=all frozen_parts=1 caption_dropout=0.2 max_length=77 prompt=<CAPTION> "
          + "sample_every_steps=10 sample_every_epochs=1 save_every_steps=50 save_every_epochs=1 out=\"out dir\" "
          + "layout=reference name=run1 log=tensorboard shuffle_captions",
      ])
    XCTAssertTrue(parsed.notes.isEmpty)
    // Each line binds against the declared commands: every reference-script flag has a home with a valid value.
    for line in parsed.commands {
      let statement = try XCTUnwrap(Lexer.statements(line).first)
      let command = try XCTUnwrap(Registry.find(statement.words[0].text))
      XCTAssertNoThrow(try Binder.bind(statement, to: command, settings: [:]), line)
    }
  }

  func testTrainDefaultsAndRefusals() throws {
    let parsed = try TrainOneShot.parse(["--dataset", "meta", "--output_dir", "o"])
    XCTAssertEqual(
      parsed.commands[2],
      "lora rank=4 alpha=4 targets=qkv,proj,k_proj,v_proj,q_proj,out_proj,fc1,fc2 dropout=0.25 init=gaussian")
    XCTAssertEqual(
      parsed.commands[3],
      "train epochs=5 lr=0.0001 batch=1 accumulate=1 optimizer=prodigy-sf frozen_parts=0 caption_dropout=0 out=o "
        + "layout=reference")
    XCTAssertEqual(parsed.notes.count, 0, "the reference script's ProdigyPlusScheduleFree default is kept")
    for refused in [
      ["--device", "cuda"], ["--optimizer_name", "Lion"],
      // accumulation_rank needs --optimizer_name Flora (the default here is ProdigyPlusScheduleFree).
      ["--accumulation_rank", "4"], ["--accumulation-rank", "4"], ["--log_with", "mlflow"],
    ] {
      XCTAssertThrowsError(try TrainOneShot.parse(["--dataset_dir", "d", "--output_dir", "o"] + refused), "\(refused)")
    }
    XCTAssertThrowsError(try TrainOneShot.parse(["--output_dir", "o"]), "a dataset is required")
    XCTAssertThrowsError(try TrainOneShot.parse(["--dataset_dir", "d"]), "--output_dir is required")
  }

  func testTrainRevisionPinsTheModelRevisionAsCaptionDoes() throws {
    let parsed = try TrainOneShot.parse(["--dataset_dir", "d", "--output_dir", "o", "--revision", "refs/pr/6"])
    XCTAssertEqual(parsed.commands[0], "load microsoft/Florence-2-base-ft revision=refs/pr/6")
  }

  func testQuotingRoundTrips() throws {
    for word in [
      "plain", "with space", "q\"uote", "back\\slash", "$1", "#hash", "a=b", "tab\there", "", "~/x", "semi;colon",
    ] {
      let statement = try XCTUnwrap(Lexer.statements("echo " + ShellWords.quote(word)).first)
      XCTAssertEqual(statement.words.count, 2, word)
      XCTAssertEqual(statement.words[1].text, word)
      XCTAssertNil(statement.words[1].key, word)
    }
  }
}
