// The theme, set before the page is drawn (a classic script in <head>, so there is no flash of the other theme).
document.documentElement.dataset.theme = localStorage.getItem("stepline-theme") ||
  (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
