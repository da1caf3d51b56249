import XCTest

final class PlaceholderTokenizerTests: XCTestCase {
  func testBuilds() {}
}
