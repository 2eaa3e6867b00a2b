import SwiftUI

// The core's bilingual string crosses the FFI as the record `Text { zh, en }` (ZhangbanKit.Text), and SwiftUI
// has its view `Text`: in a file importing both, a bare `Text` would be ambiguous. Declarations of this module
// win over imported ones, so in the app `Text` is SwiftUI's view; the core's record is `ZhangbanKit.Text`.
typealias Text = SwiftUI.Text
