// How caption text is read: lines joined and stripped, BOM dropped, invalid UTF-8 refused naming file and byte.
import XCTest

@testable import FlrTrain

final class DataCaptionTextTests: XCTestCase {
  func testLinesJoinedAndStripped() throws {
    XCTAssertEqual(try CaptionFileText.decode(Array("a cat, on a mat\n".utf8), file: "x.txt"), "a cat, on a mat")
    XCTAssertEqual(
      try CaptionFileText.decode(Array("  first line \r\n\r\n second\rthird\n\n".utf8), file: "x"),
      "first line second third")
    XCTAssertEqual(try CaptionFileText.decode([0xEF, 0xBB, 0xBF] + Array("bom".utf8), file: "x"), "bom")
    XCTAssertEqual(try CaptionFileText.decode(Array(" \n\t\u{3000}\n".utf8), file: "x"), "")
    XCTAssertEqual(try CaptionFileText.decode(Array("café 🐈".utf8), file: "x"), "café 🐈")
  }

  func testInvalidUTF8NamesFileAndByte() {
    XCTAssertThrowsError(
      try CaptionFileText.decode(Array("ok ".utf8) + [0xE9] + Array(" latin1".utf8), file: "/d/a.txt")
    ) {
      let e = $0 as? DatasetError
      XCTAssertEqual(e?.file, "/d/a.txt")
      XCTAssertEqual(e?.problem, "caption is not valid UTF-8 (byte 3: 0xe9)")
    }
    XCTAssertThrowsError(try CaptionFileText.decode([0xEF, 0xBB, 0xBF, 0x61, 0xC3], file: "b.txt")) {
      XCTAssertEqual(($0 as? DatasetError)?.problem, "caption is not valid UTF-8 (byte 4: 0xc3)")  // truncated é
    }
    XCTAssertThrowsError(try CaptionFileText.decode([0xED, 0xA0, 0x80], file: "c.txt")) {  // UTF-16 surrogate
      XCTAssertEqual(($0 as? DatasetError)?.problem, "caption is not valid UTF-8 (byte 0: 0xed)")
    }
  }
}
