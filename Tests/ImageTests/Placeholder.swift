import XCTest

final class PlaceholderImageTests: XCTestCase {
  func testBuilds() {}
}
