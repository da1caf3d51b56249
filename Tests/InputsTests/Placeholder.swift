import XCTest

final class PlaceholderInputsTests: XCTestCase {
  func testBuilds() {}
}
