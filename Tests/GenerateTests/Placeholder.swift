import XCTest

final class PlaceholderGenerateTests: XCTestCase {
  func testBuilds() {}
}
