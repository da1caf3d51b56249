import XCTest

@testable import FlrShell

final class BinderTests: XCTestCase {
  private func bind(_ line: String, settings: [String: String] = [:]) throws -> Arguments {
    let statement = try XCTUnwrap(Lexer.statements(line).first)
    let command = try XCTUnwrap(Registry.find(statement.words[0].text))
    return try Binder.bind(statement, to: command, settings: settings)
  }

  private func message(_ line: String, settings: [String: String] = [:]) -> String {
    do {
      _ = try bind(line, settings: settings)
      return "no error"
    } catch {
      return describeError(error)
    }
  }

  func testDefaultsMatchTheSeedCaptioner() throws {
    let arguments = try bind("caption a.jpg")
    XCTAssertEqual(arguments.string("task"), "<DETAILED_CAPTION>")
    XCTAssertEqual(arguments.int("beams"), 3)
    XCTAssertEqual(arguments.int("max_tokens"), 75)
    XCTAssertEqual(arguments.int("batch"), 1)
    XCTAssertEqual(arguments.string("ext"), ".txt")
    XCTAssertFalse(arguments.flag("save"))
    XCTAssertNil(arguments.string("out"))
  }

  func testGivenValuesFlagsAndPositionals() throws {
    let arguments = try bind("caption a.jpg b/ beams=1 save overwrite=false recursive=yes \"prompt=not an option\"")
    XCTAssertEqual(arguments.positionals, ["a.jpg", "b/", "prompt=not an option"])
    XCTAssertEqual(arguments.int("beams"), 1)
    XCTAssertTrue(arguments.flag("save"))
    XCTAssertFalse(arguments.flag("overwrite"))
    XCTAssertTrue(arguments.flag("recursive"))
    XCTAssertEqual(arguments.given, ["beams", "save", "overwrite", "recursive"])
  }

  func testSettingsApplyUnlessGiven() throws {
    XCTAssertEqual(try bind("caption a", settings: ["beams": "1"]).int("beams"), 1)
    XCTAssertEqual(try bind("caption a beams=4", settings: ["beams": "1"]).int("beams"), 4)
    XCTAssertTrue(try bind("caption a", settings: ["save": "true"]).flag("save"))
    XCTAssertNil(try bind("caption a", settings: ["out": "x.jsonl"]).string("out"), "out= is not settable")
  }

  func testTypeAndRangeErrors() {
    XCTAssertEqual(message("caption a beams=0"), "caption: beams=0: expected an integer in 1..64")
    XCTAssertEqual(message("caption a beams=two"), "caption: beams=two: expected an integer in 1..64")
    XCTAssertEqual(message("lora dropout=1.5"), "lora: dropout=1.5: expected a number in 0..1")
    XCTAssertEqual(
      message("caption a save=maybe"), "caption: save=maybe: expected true or false (or just `save` for true)")
    XCTAssertEqual(
      message("set progress=bars"), "set: progress=bars: expected one of auto, bar, lines, off (did you mean bar?)")
    XCTAssertEqual(message("caption a shard=5/4"), "caption: shard=5/4: expected I/N: I/N with 1 <= I <= N, e.g. 2/4")
    XCTAssertEqual(
      message("caption a ext=txt"), "caption: ext=txt: expected .ext: an extension starting with a dot, e.g. .txt")
    XCTAssertEqual(
      message("caption a", settings: ["beams": "99"]),
      "caption: beams=99: expected an integer in 1..64 (from `set beams=`)")
  }

  func testDidYouMeanForOptions() {
    XCTAssertEqual(message("caption a beam=3"), "caption: unknown option beam=; did you mean beams=?")
    XCTAssertEqual(message("caption a max_token=3"), "caption: unknown option max_token=; did you mean max_tokens=?")
    XCTAssertEqual(message("caption a zzzzzz=3"), "caption: unknown option zzzzzz=; see `help caption`")
    XCTAssertEqual(message("unmerge x"), "unmerge: unexpected word 'x'")
    XCTAssertEqual(message("help caption captoin"), "help: too many arguments at 'captoin' (usage: help [COMMAND])")
  }

  func testMissingValuesAndPositionals() {
    XCTAssertEqual(message("caption a beams"), "caption: beams needs a value: beams=int 1..64")
    XCTAssertTrue(message("caption").hasPrefix("caption: missing PATH (usage: caption PATH..."), message("caption"))
    XCTAssertEqual(message("caption a beams=1 beams=2"), "caption: beams= is given twice")
    XCTAssertEqual(message("quit 300"), "quit: CODE=300: expected an integer in 0..255")
  }

  func testEditDistance() {
    XCTAssertEqual(editDistance("beams", "beams"), 0)
    XCTAssertEqual(editDistance("baems", "beams"), 1, "a transposition is one edit")
    XCTAssertEqual(editDistance("captoin", "caption"), 1)
    XCTAssertEqual(editDistance("", "abc"), 3)
    XCTAssertEqual(closestMatch(to: "captoin", among: Registry.allNames), "caption")
    XCTAssertEqual(closestMatch(to: "lroa", among: Registry.allNames), "lora")
    XCTAssertNil(closestMatch(to: "xyzzy", among: Registry.allNames))
  }

  func testEveryDeclarationIsConsistent() throws {
    var names = Set<String>()
    for command in Registry.commands {
      for name in [command.name] + command.aliases {
        XCTAssertTrue(names.insert(name).inserted, "\(name) declared twice")
      }
      XCTAssertFalse(command.summary.isEmpty, command.name)
      XCTAssertFalse(command.examples.isEmpty, "\(command.name) has no example")
      XCTAssertEqual(Set(command.options.map(\.name)).count, command.options.count, "\(command.name): duplicate option")
      for option in command.options {
        if let value = option.defaultValue {
          XCTAssertEqual(
            try option.parse(value.description), value, "\(command.name) \(option.name): default out of range")
        }
      }
      // Every example must at least lex and bind (unknown options, bad values and typos fail here).
      for example in command.examples {
        let statement = try XCTUnwrap(Lexer.statements(example).first)
        XCTAssertTrue(([command.name] + command.aliases).contains(statement.words[0].text), example)
        XCTAssertNoThrow(try Binder.bind(statement, to: command, settings: [:]), example)
      }
    }
  }

  func testPythonStyleFlagsAndFlagTyposGetADidYouMean() {
    XCTAssertEqual(
      message("caption photos/ --save_captions"),
      "caption: unknown option '--save_captions': flr's options have no dashes; did you mean save?")
    XCTAssertEqual(
      message("caption photos/ --batch_size=4"),
      "caption: unknown option '--batch_size=4': flr's options have no dashes; did you mean batch=4?")
    XCTAssertEqual(
      message("caption photos/ --beams"),
      "caption: unknown option '--beams': flr's options have no dashes; did you mean beams=int 1..64?")
    XCTAssertEqual(
      message("train --learning-rate=0.01"),
      "train: unknown option '--learning-rate=0.01': flr's options have no dashes; did you mean lr=0.01?")
    XCTAssertEqual(
      message("caption photos/ recursiv"),
      "caption: no file or folder 'recursiv'; did you mean the flag recursive? (a file of that name: ./recursiv)")
    XCTAssertEqual(message("caption photos/ ./--odd recursive"), "no error")
    XCTAssertEqual(message("echo --- done ---"), "no error")
    XCTAssertTrue(message("caption photos/ task=CAPTION").hasSuffix("; did you mean <CAPTION>?"))
    XCTAssertTrue(message("caption photos/ task=<detailed_caption>").hasSuffix("; did you mean <DETAILED_CAPTION>?"))
  }
}
