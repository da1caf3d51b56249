// Task prompts and post-processing against the processor's tables (Tests/Fixtures/tokenizer/tasks.json,
// copied from processor_facts.json; "constructed" = the remote-code `_construct_prompts` result for
// each user prompt, cross-checked in the generator against transformers' native processor).
import XCTest

@testable import FlrTokenizer

final class FlorenceTaskTests: XCTestCase {
  func testTemplatesAndPostProcessingMatchTheProcessor() throws {
    let facts = try TokenizerFixtures.tasks()
    let templates = facts.task_prompts, types = facts.post_processing_type
    XCTAssertEqual(Set(templates.keys), Set(FlorenceTask.allCases.map(\.rawValue)))
    for task in FlorenceTask.allCases {
      XCTAssertEqual(task.template, templates[task.rawValue], task.rawValue)
      XCTAssertEqual(task.postProcessing.rawValue, types[task.rawValue], task.rawValue)
    }
  }

  func testConstructedPrompts() throws {
    let cases = try TokenizerFixtures.tasks().constructed
    XCTAssertGreaterThan(cases.count, 70)
    for c in cases {
      let user = c.task
      if let want = c.text {
        let got = try FlorenceTask.prompt(for: user)
        XCTAssertTrue(sameText(got, want), "\"\(escaped(user))\" -> \"\(escaped(got))\", want \"\(escaped(want))\"")
      } else {
        XCTAssertThrowsError(try FlorenceTask.prompt(for: user), "\"\(user)\" must be refused")
      }
    }
  }

  func testTaskOfAPrompt() {
    XCTAssertEqual(FlorenceTask.task(in: "<REGION_TO_OCR><loc_1><loc_2><loc_3><loc_4>"), .regionToOCR)
    XCTAssertNil(FlorenceTask.task(in: "a custom prompt"))
  }

  /// pure_text post-processing against the remote code's expression on tricky inputs.
  func testPureTextPostProcessing() throws {
    let cases = try TokenizerFixtures.tasks().pure_text
    XCTAssertGreaterThan(cases.count, 5)
    for c in cases {
      XCTAssertTrue(sameText(FlorenceTask.pureText(c[0]), c[1]), escaped(c[0]))
    }
  }
}
