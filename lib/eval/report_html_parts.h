// The pieces report.html and comparison.html share (report_html.cpp, comparison_html.cpp): a
// run's training curves, the links to the files a run directory holds, and relative links. No
// torch here.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace plinth::eval {

// <run_dir>/loss.svg as an inert image (util/html_page.h html_svg_image) with `caption`; a link
// (`href_prefix` + "loss.svg") instead when the file is too large to embed or is not an SVG; ""
// when the run has none.
std::string training_curves_html(const std::filesystem::path& run_dir, std::string_view href_prefix,
                                 std::string_view caption);

// (name, href_prefix + name) for each of `names` that is a file in `dir`, in that order.
std::vector<std::pair<std::string, std::string>> file_links(const std::filesystem::path& dir,
                                                            const std::vector<std::string>& names,
                                                            std::string_view href_prefix);

// `target` (a directory) as a URL relative to `from`, ending in '/' ("" when they are the same);
// an absolute path when they share no root, which a browser reading file:// pages follows too.
std::string relative_href(const std::filesystem::path& target, const std::filesystem::path& from);

}  // namespace plinth::eval
