// The shotmake report: play a take in place of its strip, seek the master to a chapter.
// No network, no libraries: the page works from a folder on disk.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-play]");
  if (button) {
    var box = button.closest(".take");
    var video = box.querySelector("video");
    if (!video) {
      video = document.createElement("video");
      video.controls = true;
      video.preload = "auto";
      video.src = button.getAttribute("data-play");
      var strip = box.querySelector(".strip");
      strip.insertAdjacentElement("afterend", video);
    }
    video.play();
    return;
  }
  var chapter = event.target.closest("button[data-seek]");
  if (chapter) {
    var master = document.getElementById("master");
    if (master) { master.currentTime = parseFloat(chapter.getAttribute("data-seek")); master.play(); }
  }
});
