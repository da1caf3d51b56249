import ArgumentParser
import XCTest

@testable import FlrShell

/// The reference scripts' later flags: `flr caption --num_beams --recursive --dtype` and `flr train
/// --lora_plus_ratio --init_lora_weights --caption_file_suffix`, mapped onto shell options that then bind.
final class OneShotLaterFlagsTests: XCTestCase {
  func testCaptionFlags() throws {
    let parsed = try CaptionOneShot.parse([
      "--images", "photos", "--num_beams", "2", "--recursive", "--dtype", "float32",
    ])
    XCTAssertEqual(
      parsed.commands.last, "caption photos task=<DETAILED_CAPTION> beams=2 max_tokens=75 batch=1 ext=.txt recursive")
    let caption = try XCTUnwrap(Lexer.statements(parsed.commands[1]).first)
    let bound = try Binder.bind(caption, to: CaptionCommand.command, settings: [:])
    XCTAssertEqual(bound.int("beams"), 2)
    XCTAssertTrue(bound.flag("recursive"))
    let bf16 = try CaptionOneShot.parse(["--images", "x", "--dtype", "bfloat16"])
    XCTAssertTrue(bf16.commands[0].hasSuffix("precision=bf16"), bf16.commands[0])
    XCTAssertThrowsError(try CaptionOneShot.parse(["--images", "x", "--dtype", "fp8"])) {
      XCTAssertTrue(
        CaptionOneShot.message(for: $0).contains("float32, bfloat16 or int8"), CaptionOneShot.message(for: $0))
    }
  }

  func testTrainFlags() throws {
    let parsed = try TrainOneShot.parse([
      "--dataset_dir", "data", "--output_dir", "out", "--init_lora_weights", "false", "--lora_plus_ratio", "16",
      "--caption_file_suffix", "_tags.txt",
    ])
    let lines = parsed.commands
    XCTAssertEqual(lines[1], "dataset data suffix=_tags ext=.txt")
    XCTAssertTrue(lines[2].split(separator: " ").contains("init=false"), lines[2])
    XCTAssertTrue(lines[3].split(separator: " ").contains("lora_plus_ratio=16"), lines[3])
    for (line, command) in zip(lines[1...3], [DatasetCommand.command, LoraCommand.command, TrainCommand.command]) {
      let statement = try XCTUnwrap(Lexer.statements(line).first)
      XCTAssertNoThrow(try Binder.bind(statement, to: command, settings: [:]), line)
    }
    let extOnly = try TrainOneShot.parse(["--dataset", "d", "--output_dir", "o", "--caption_file_suffix", ".caption"])
    XCTAssertEqual(extOnly.commands[1], "dataset d ext=.caption")
    let trueInit = try TrainOneShot.parse(["--dataset", "d", "--output_dir", "o", "--init_lora_weights", "True"])
    XCTAssertTrue(trueInit.commands[2].split(separator: " ").contains("init=default"), trueInit.commands[2])
    let defaults = try TrainOneShot.parse(["--dataset", "d", "--output_dir", "o"])
    XCTAssertTrue(defaults.commands[2].split(separator: " ").contains("init=gaussian"), defaults.commands[2])
    XCTAssertFalse(defaults.commands[3].contains("lora_plus_ratio"), defaults.commands[3])
    XCTAssertThrowsError(
      try TrainOneShot.parse(["--dataset", "d", "--output_dir", "o", "--init_lora_weights", "pissa"])
    ) {
      XCTAssertTrue(TrainOneShot.message(for: $0).contains("pissa"), TrainOneShot.message(for: $0))
    }
  }
}
